"""The no-op publish view: Switchboard's DRF stack around nothing."""

import time
import uuid

from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.scopes import Scope


class NoopPublishView(APIView):
    # The publish endpoint's permission check (ScopePermission, the default), the same work.
    required_scope = Scope.PUBLISH

    def post(self, request: Request, topic: str) -> Response:
        """Parse the body like the publish endpoint, store nothing, answer 202."""
        _ = request.data
        body = {"id": str(uuid.uuid4()), "topic": topic, "published_at": time.time()}
        return Response(body, status=status.HTTP_202_ACCEPTED)
