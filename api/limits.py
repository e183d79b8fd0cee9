"""Limits on what one GraphQL request may ask: nesting depth and estimated cost.

The cost estimates how many objects a query can make the server fetch. Each field that
returns objects costs one per object, times the objects its children cost: a field with a
``first`` argument returns up to ``first`` objects (the value given, or the schema's default),
a list inside a page (``edges``, ``nodes``) returns what its page holds, and any other list
(partners, compartments, organelles) is counted as :data:`UNBOUNDED_LIST` objects. Scalar
fields cost nothing. The limits come from the request's settings
(``max_query_depth``, ``max_query_cost``); a query over either is refused before anything is
read, with one sentence saying which limit and by how much.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    VariableNode,
    get_named_type,
    value_from_ast,
)
from strawberry.extensions import SchemaExtension

UNBOUNDED_LIST = 20
PAGE_LISTS = ("edges", "nodes")


def _is_list(type_: Any) -> bool:
    while isinstance(type_, GraphQLNonNull):
        type_ = type_.of_type
    return isinstance(type_, GraphQLList)


class _Measure:
    def __init__(self, schema: GraphQLSchema, fragments: dict[str, Any], variables: dict):
        self.schema, self.fragments, self.variables = schema, fragments, variables

    def fields(self, selection: SelectionSetNode | None) -> Iterator[FieldNode]:
        for node in selection.selections if selection else ():
            if isinstance(node, FieldNode):
                yield node
            elif isinstance(node, InlineFragmentNode):
                yield from self.fields(node.selection_set)
            elif isinstance(node, FragmentSpreadNode) and node.name.value in self.fragments:
                yield from self.fields(self.fragments[node.name.value].selection_set)

    def first(self, node: FieldNode, definition: Any) -> int | None:
        arg = definition.args.get("first")
        if arg is None:
            return None
        for given in node.arguments or ():
            if given.name.value == "first":
                if isinstance(given.value, VariableNode):
                    value = self.variables.get(given.value.name.value, arg.default_value)
                else:
                    value = value_from_ast(given.value, arg.type, self.variables)
                return int(value) if isinstance(value, int) else UNBOUNDED_LIST
        default = arg.default_value
        return int(default) if isinstance(default, int) else UNBOUNDED_LIST

    def measure(
        self, parent: GraphQLObjectType, selection: SelectionSetNode | None
    ) -> tuple[int, int]:
        """(depth, cost) of a selection on ``parent``."""
        depth = cost = 0
        for node in self.fields(selection):
            definition = parent.fields.get(node.name.value)
            if definition is None or node.selection_set is None:
                continue
            child = get_named_type(definition.type)
            if not isinstance(child, GraphQLObjectType):
                continue
            child_depth, child_cost = self.measure(child, node.selection_set)
            first = self.first(node, definition)
            if first is not None:
                objects = first
            elif _is_list(definition.type) and node.name.value not in PAGE_LISTS:
                objects = UNBOUNDED_LIST
            else:
                objects = 1
            depth = max(depth, child_depth + 1)
            cost += objects * (1 + child_cost)
        return depth, cost


def measure(
    schema: GraphQLSchema, document: Any, operation_name: str | None, variables: dict | None
) -> tuple[int, int]:
    """Depth and estimated cost of the operation ``operation_name`` of ``document``.

    Examples
    --------
    >>> from api.schema import schema
    >>> from graphql import parse
    >>> q = parse('{ neurons(dataset: "d", first: 10) { nodes { bodyId upstream { weight } } } }')
    >>> measure(schema._schema, q, None, {})
    (3, 220)
    """
    fragments = {d.name.value: d for d in document.definitions
                 if isinstance(d, FragmentDefinitionNode)}  # fmt: skip
    ops = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if operation_name is not None:
        ops = [d for d in ops if d.name and d.name.value == operation_name]
    if not ops:
        return 0, 0
    op = ops[0]
    root = schema.get_root_type(op.operation)
    if root is None:
        return 0, 0
    return _Measure(schema, fragments, variables or {}).measure(root, op.selection_set)


class QueryLimits(SchemaExtension):
    """Refuses a query deeper than ``max_query_depth`` or costlier than ``max_query_cost``
    (the request's settings) before it runs."""

    def on_execute(self) -> Iterator[None]:
        ctx = self.execution_context
        settings = getattr(ctx.context, "settings", None)
        if settings is not None and ctx.graphql_document is not None:
            depth, cost = measure(
                ctx.schema._schema, ctx.graphql_document, ctx.operation_name, ctx.variables
            )
            if depth > settings.max_query_depth:
                raise GraphQLError(
                    f"the query nests {depth} levels deep; the limit is {settings.max_query_depth}"
                )
            if cost > settings.max_query_cost:
                raise GraphQLError(
                    f"the query could return about {cost:,} objects; the limit is "
                    f"{settings.max_query_cost:,}: ask for smaller pages (first) or fewer "
                    "nested lists"
                )
        yield
