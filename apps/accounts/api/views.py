"""GET /api/v1/audit-events: the audit log, filtered and paginated (admin scope)."""

from drf_spectacular.utils import extend_schema
from rest_framework import exceptions
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts import selectors
from apps.accounts.api.serializers import AuditEventFilterSerializer, AuditEventPageSerializer, AuditEventSerializer
from apps.accounts.scopes import Scope
from apps.accounts.topics import visible_topics
from apps.core.api.pagination import StrictLimitOffsetPagination


class AuditEventListView(APIView):
    required_scope = Scope.ADMIN

    @extend_schema(
        operation_id="audit_events_list",
        parameters=[AuditEventFilterSerializer],
        responses={200: AuditEventPageSerializer},
    )
    def get(self, request: Request) -> Response:
        if not visible_topics(request).unrestricted:
            raise exceptions.NotFound("A key limited to some topics cannot read the audit log of every team.")
        query = AuditEventFilterSerializer(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        filters = {k: v for k, v in query.validated_data.items() if k not in {"limit", "offset"}}
        paginator = StrictLimitOffsetPagination()
        page = paginator.paginate_queryset(selectors.audit_events_filter(**filters), request, view=self)
        return paginator.get_paginated_response(AuditEventSerializer(page, many=True).data)
