"""List, inspect, replay and purge dead letters."""

from typing import Any

from django.db.models import QuerySet
from django.http import QueryDict
from drf_spectacular.utils import OpenApiParameter, OpenApiTypes, extend_schema
from rest_framework import serializers, status
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.audit import Actor
from apps.accounts.scopes import Scope
from apps.accounts.topics import visible_topics
from apps.deadletters import selectors, services
from apps.deadletters.api.serializers import (
    DeadLetterDetailSerializer,
    DeadLetterPageSerializer,
    DeadLetterReplayRequestSerializer,
    DeadLetterSelectionSerializer,
    DeadLetterSummarySerializer,
    PurgeReportSerializer,
    ReplayReportSerializer,
)
from apps.deadletters.filters import DeadLetterFilterSet

# Beyond a 64-bit integer the database cannot take an OFFSET (SQLite fails outright).
MAX_OFFSET = 2**63 - 1


class DeadLetterPagination(LimitOffsetPagination):
    """limit/offset paging that refuses a malformed or out-of-range value instead of ignoring it."""

    default_limit = 50
    max_limit = 500

    def get_limit(self, request: Request) -> int:
        return _bounded_int(request, self.limit_query_param, default=self.default_limit, low=1, high=self.max_limit)

    def get_offset(self, request: Request) -> int:
        return _bounded_int(request, self.offset_query_param, default=0, low=0, high=MAX_OFFSET)


def _bounded_int(request: Request, name: str, *, default: int, low: int, high: int | None) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    bounds = f"from {low} to {high}" if high is not None else f"of at least {low}"
    try:
        value = int(raw)
    except ValueError:
        value = low - 1
    if value < low or (high is not None and value > high):
        raise serializers.ValidationError({name: [f"Must be a whole number {bounds}."]})
    return value


PAGING_PARAMS = {DeadLetterPagination.limit_query_param, DeadLetterPagination.offset_query_param}


def _query_filters(params: QueryDict) -> dict[str, str]:
    """Return the filters of a list request; a filter given twice is an error, not a silent choice."""
    repeated = {
        name: ["Give this filter once."]
        for name in params
        if name not in PAGING_PARAMS and len(params.getlist(name)) > 1
    }
    if repeated:
        raise serializers.ValidationError(repeated)
    return {name: params.getlist(name)[0] for name in params if name not in PAGING_PARAMS}


def _filtered(request: Request, filters: dict[str, Any], *, field: str | None = None) -> QuerySet[Any]:
    """Return the dead letters the key sees matching `filters`; errors are named under `field` when the body has one."""
    try:
        return selectors.dead_letters_filter(filters=filters, topics=visible_topics(request))
    except selectors.InvalidFilterError as exc:
        if field is None:
            raise
        raise selectors.InvalidFilterError({field: exc.errors}) from exc


def _selected(request: Request, selection: dict[str, Any]) -> QuerySet[Any]:
    """Return the dead letters a validated selection names; every id must exist (and be visible to the key)."""
    topics = visible_topics(request)
    if "ids" not in selection:
        return _filtered(request, selection["filter"], field="filter")
    missing = selectors.dead_letters_missing(ids=selection["ids"], topics=topics)
    if missing:
        shown = ", ".join(map(str, missing[:20])) + (f" and {len(missing) - 20} more" if len(missing) > 20 else "")
        raise selectors.UnknownDeadLetterError(errors={"ids": [f"There is no dead letter with id {shown}."]})
    return selectors.dead_letters_with_ids(ids=selection["ids"], topics=topics)


def _targets(selection: dict[str, Any]) -> dict[str, Any] | None:
    """What the audit log names: the filter of a selection by filter (ids are recorded as they are)."""
    return None if "ids" in selection else {"filter": selection["filter"]}


def _get_or_404(request: Request, dead_letter_id: int) -> Any:
    dead_letter = selectors.dead_letter_get(dead_letter_id=dead_letter_id, topics=visible_topics(request))
    if dead_letter is None:
        raise selectors.UnknownDeadLetterError(f"There is no dead letter with id {dead_letter_id}.")
    return dead_letter


FILTER_PARAMETERS = [
    OpenApiParameter(name, OpenApiTypes.STR, OpenApiParameter.QUERY, description=str(f.extra.get("help_text", "")))
    for name, f in DeadLetterFilterSet.base_filters.items()
] + [
    OpenApiParameter("limit", int, OpenApiParameter.QUERY, description="Page size, 1 to 500 (default 50)."),
    OpenApiParameter("offset", int, OpenApiParameter.QUERY, description="Skip this many (default 0)."),
]


class DeadLetterListView(APIView):
    required_scope = {"GET": Scope.REPLAY, "DELETE": Scope.PURGE}

    @extend_schema(
        operation_id="dead_letters_list", parameters=FILTER_PARAMETERS, responses={200: DeadLetterPageSerializer}
    )
    def get(self, request: Request) -> Response:
        dead_letters = _filtered(request, _query_filters(request.query_params))
        paginator = DeadLetterPagination()
        page = paginator.paginate_queryset(selectors.dead_letters_page(dead_letters=dead_letters), request, view=self)
        return paginator.get_paginated_response(DeadLetterSummarySerializer(page, many=True).data)

    @extend_schema(
        operation_id="dead_letters_purge", request=DeadLetterSelectionSerializer, responses={200: PurgeReportSerializer}
    )
    def delete(self, request: Request) -> Response:
        selection = DeadLetterSelectionSerializer(data=request.data)
        selection.is_valid(raise_exception=True)
        report = services.dead_letters_purge(
            dead_letters=_selected(request, selection.validated_data),
            actor=Actor.from_request(request),
            targets=_targets(selection.validated_data),
        )
        return Response(PurgeReportSerializer(report).data)


class DeadLetterReplayView(APIView):
    required_scope = Scope.REPLAY

    @extend_schema(
        operation_id="dead_letters_replay",
        request=DeadLetterReplayRequestSerializer,
        responses={202: ReplayReportSerializer},
    )
    def post(self, request: Request) -> Response:
        selection = DeadLetterReplayRequestSerializer(data=request.data)
        selection.is_valid(raise_exception=True)
        report = services.dead_letters_replay(
            dead_letters=_selected(request, selection.validated_data),
            rate_per_second=selection.validated_data["rate_per_second"],
            actor=Actor.from_request(request),
            targets=_targets(selection.validated_data),
        )
        return Response(ReplayReportSerializer(report).data, status=status.HTTP_202_ACCEPTED)


class DeadLetterDetailView(APIView):
    required_scope = {"GET": Scope.REPLAY, "DELETE": Scope.PURGE}

    @extend_schema(operation_id="dead_letter_get", responses={200: DeadLetterDetailSerializer})
    def get(self, request: Request, dead_letter_id: int) -> Response:
        return Response(DeadLetterDetailSerializer(_get_or_404(request, dead_letter_id)).data)

    @extend_schema(operation_id="dead_letter_purge", request=None, responses={204: None})
    def delete(self, request: Request, dead_letter_id: int) -> Response:
        services.dead_letters_purge(
            dead_letters=[_get_or_404(request, dead_letter_id).pk], actor=Actor.from_request(request)
        )
        return Response(status=status.HTTP_204_NO_CONTENT)
