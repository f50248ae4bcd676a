"""Offset/limit paging with sort and order, validated: bad values are a 400, not a
silent default. The page reports the total and exactly what it returned."""

from __future__ import annotations

from django.conf import settings
from rest_framework import serializers
from rest_framework.pagination import BasePagination
from rest_framework.response import Response

SORT_FIELDS = {"id": "id", "date": "created_at"}


class ListParamsSerializer(serializers.Serializer):
    # Bounded so offset + limit always fits the databases' 64-bit OFFSET (a larger one
    # would reach the database and come back as a 503).
    offset = serializers.IntegerField(min_value=0, max_value=2**53, default=0)
    limit = serializers.IntegerField(min_value=1, required=False)
    sort = serializers.ChoiceField(choices=sorted(SORT_FIELDS), default="id")
    order = serializers.ChoiceField(choices=["asc", "desc"], default="asc")

    def validate_limit(self, value: int) -> int:
        maximum = settings.MAX_PAGE_SIZE
        if value > maximum:
            raise serializers.ValidationError(f"Ensure this value is less than or equal to {maximum}.")
        return value


def parse_list_params(query_params) -> dict:
    """Validate offset/limit/sort/order from a query string (raises ValidationError)."""
    params = ListParamsSerializer(data={k: query_params.get(k) for k in ("offset", "limit", "sort", "order") if query_params.get(k) not in (None, "")})
    params.is_valid(raise_exception=True)
    data = dict(params.validated_data)
    data.setdefault("limit", settings.PAGE_SIZE)
    return data


class OffsetLimitPagination(BasePagination):
    """Sorts by ``sort``/``order`` (ties broken by id) and slices by ``offset``/``limit``."""

    def paginate_queryset(self, queryset, request, view=None):
        params = parse_list_params(request.query_params)
        field = SORT_FIELDS[params["sort"]]
        prefix = "-" if params["order"] == "desc" else ""
        ordering = [prefix + field] if field == "id" else [prefix + field, prefix + "id"]
        queryset = queryset.order_by(*ordering)
        self.params = params
        self.count = queryset.count()
        offset, limit = params["offset"], params["limit"]
        # Page the keys first, then load the page's rows: PostgreSQL computes the select
        # list (the selectors' per-row subqueries) for every row OFFSET skips, so a deep
        # page of media took ~0.9 s at 100k rows instead of ~10 ms (found by bench/load.py).
        keys = queryset.values("pk")[offset : offset + limit]
        return list(queryset.filter(pk__in=keys))

    def get_paginated_response(self, data):
        return Response(
            {
                "count": self.count,
                "offset": self.params["offset"],
                "limit": self.params["limit"],
                "sort": self.params["sort"],
                "order": self.params["order"],
                "results": data,
            }
        )

    def get_paginated_response_schema(self, schema):
        # The one page schema: list views get it from drf-spectacular, a page nested in
        # another answer through PageField. sort and order are the parameters' choices.
        from drf_spectacular.plumbing import build_choice_field

        choices = ListParamsSerializer().fields
        return {
            "type": "object",
            "required": ["count", "offset", "limit", "sort", "order", "results"],
            "properties": {
                "count": {"type": "integer"},
                "offset": {"type": "integer"},
                "limit": {"type": "integer"},
                "sort": build_choice_field(choices["sort"]),
                "order": build_choice_field(choices["order"]),
                "results": schema,
            },
        }

    def get_schema_operation_parameters(self, view):
        return [
            {"name": "offset", "in": "query", "required": False, "schema": {"type": "integer", "minimum": 0}},
            {"name": "limit", "in": "query", "required": False, "schema": {"type": "integer", "minimum": 1, "maximum": settings.MAX_PAGE_SIZE}},
            {"name": "sort", "in": "query", "required": False, "schema": {"type": "string", "enum": sorted(SORT_FIELDS)}},
            {"name": "order", "in": "query", "required": False, "schema": {"type": "string", "enum": ["asc", "desc"]}},
        ]


class PageField(serializers.Field):
    """Schema-only: a page of ``child`` items nested in another answer (a collection's
    items), documented with the paginator's page schema (see core.api.schema)."""

    def __init__(self, child: type[serializers.Serializer], **kwargs):
        self.child = child
        super().__init__(read_only=True, **kwargs)
