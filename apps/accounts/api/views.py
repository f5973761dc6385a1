"""GET /api/v1/audit-events: the audit log, filtered and paginated (admin scope)."""

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts import selectors
from apps.accounts.api.serializers import AuditEventFilterSerializer, AuditEventPageSerializer, AuditEventSerializer
from apps.accounts.scopes import Scope
from apps.core.api.pagination import StrictLimitOffsetPagination


class AuditEventListView(APIView):
    required_scope = Scope.ADMIN

    @extend_schema(
        operation_id="audit_events_list",
        parameters=[AuditEventFilterSerializer],
        responses={200: AuditEventPageSerializer},
    )
    def get(self, request: Request) -> Response:
        query = AuditEventFilterSerializer(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        filters = {k: v for k, v in query.validated_data.items() if k not in {"limit", "offset"}}
        paginator = StrictLimitOffsetPagination()
        page = paginator.paginate_queryset(selectors.audit_events_filter(**filters), request, view=self)
        return paginator.get_paginated_response(AuditEventSerializer(page, many=True).data)
