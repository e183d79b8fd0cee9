"""Automated analyses over the query library: each report kind gathers its numbers from the
graph (:mod:`graph.queries`, :mod:`graph.analysis`), draws its figures with matplotlib and
writes ``report.html``, ``report.pdf`` and ``report.json`` (every number shown) into one
folder, atomically.

Kinds (:data:`reports.command.KINDS`): ``mito-synapse`` (SyConn2's mitochondria–synapse
analysis, :mod:`reports.mito_synapse`) and ``connectivity`` (the cell-type connectivity
matrix, :mod:`reports.connectivity`). ``connectome report KIND`` and ``python -m reports
KIND`` run them; the API starts the latter as a separate process.
"""
