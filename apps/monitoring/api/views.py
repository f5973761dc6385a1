"""GET /api/v1/alerts: the alert rules, each with its state on every subscription it watches."""

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.monitoring import alert_selectors
from apps.monitoring.api.serializers import AlertRuleSerializer


class AlertRuleListView(APIView):
    required_scope = "read"

    @extend_schema(responses={200: AlertRuleSerializer(many=True)})
    def get(self, request: Request) -> Response:
        return Response(AlertRuleSerializer(alert_selectors.alert_rules_with_alerts(), many=True).data)
