"""Publish a message; read a message's delivery status."""

import uuid

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.api.problems import problem, problem_response
from apps.publishing import selectors, services
from apps.publishing.api.serializers import (
    MessageStatusSerializer,
    PublishRequestSerializer,
    PublishResponseSerializer,
)


def publish_error_response(exc: services.PublishError) -> Response:
    """Render a publish error as problem details."""
    if isinstance(exc, services.UnknownTopic):
        body = problem(status_code=404, title="Unknown topic", detail=str(exc), code="unknown-topic")
    elif isinstance(exc, services.PayloadTooLarge):
        body = problem(status_code=413, title="Payload too large", detail=str(exc), code="payload-too-large")
    else:
        field = getattr(exc, "field", "")
        body = problem(
            status_code=400,
            title="Invalid message",
            detail=str(exc),
            code="invalid-message",
            errors={field: [str(exc)]},
        )
    return problem_response(body)


class TopicMessagesView(APIView):
    @extend_schema(request=PublishRequestSerializer, responses={202: PublishResponseSerializer})
    def post(self, request: Request, topic: str) -> Response:
        serializer = PublishRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            message = services.publish(topic=topic, **serializer.validated_data)
        except services.PublishError as exc:
            return publish_error_response(exc)
        body = {"id": message.id, "topic": topic, "published_at": message.published_at}
        return Response(PublishResponseSerializer(body).data, status=status.HTTP_202_ACCEPTED)


class MessageDetailView(APIView):
    @extend_schema(responses={200: MessageStatusSerializer})
    def get(self, request: Request, message_id: uuid.UUID) -> Response:
        message = selectors.message_get(message_id=message_id)
        if message is None:
            body = problem(
                status_code=404,
                title="Unknown message",
                detail=f"There is no message {message_id}.",
                code="unknown-message",
            )
            return problem_response(body)
        return Response(MessageStatusSerializer(message).data)
