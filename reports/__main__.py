"""``python -m reports KIND --dataset D --out DIR``: a report on its own, the Neo4j settings
read from ``NEO4J_*`` (what the API starts in a separate process)."""

import sys

from reports.command import main

sys.exit(main())
