"""GET /api/v1/alerts: the alert rules, each with its state on every subscription it watches."""

from drf_spectacular.utils import extend_schema
from rest_framework import exceptions
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.scopes import Scope
from apps.accounts.topics import visible_topics
from apps.monitoring import alert_selectors
from apps.monitoring.api.serializers import AlertRuleSerializer


class AlertRuleListView(APIView):
    required_scope = Scope.READ

    @extend_schema(responses={200: AlertRuleSerializer(many=True)})
    def get(self, request: Request) -> Response:
        if not visible_topics(request).unrestricted:
            # Rules and alerts name subscriptions of every team.
            raise exceptions.NotFound("A key limited to some topics cannot read the hub's alert rules.")
        return Response(AlertRuleSerializer(alert_selectors.alert_rules_with_alerts(), many=True).data)
