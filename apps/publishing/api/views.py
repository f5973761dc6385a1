"""Publish a message; read a message's delivery status."""

import uuid
from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.scopes import Scope
from apps.accounts.topics import visible_topics
from apps.core.api.problems import problem_body
from apps.publishing import errors, idempotency, selectors, services
from apps.publishing.api.serializers import (
    MessageStatusSerializer,
    PublishBatchRequestSerializer,
    PublishBatchResponseSerializer,
    PublishRequestSerializer,
    PublishResponseSerializer,
)


class TopicMessagesView(APIView):
    required_scope = Scope.PUBLISH
    topic_kwarg = "topic"

    @extend_schema(
        request=PublishRequestSerializer,
        responses={202: PublishResponseSerializer},
        parameters=[
            OpenApiParameter(
                "Idempotency-Key",
                str,
                OpenApiParameter.HEADER,
                description="Repeat a publish safely: the same key and request return the first answer.",
            )
        ],
    )
    def post(self, request: Request, topic: str) -> Response:
        serializer = PublishRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        fields = {"topic": topic, **serializer.validated_data}
        idempotency_key = request.headers.get("Idempotency-Key")
        if idempotency_key is None:
            receipt = idempotency.Receipt(body=idempotency.message_receipt(services.publish(**fields)), replayed=False)
        else:
            scope = idempotency.api_scope(request.auth.pk)
            receipt = services.publish_idempotent(scope=scope, key=idempotency_key, fields=fields)
        headers = {"Idempotent-Replayed": "true"} if receipt.replayed else None
        return Response(receipt.body, status=status.HTTP_202_ACCEPTED, headers=headers)


class TopicMessagesBatchView(APIView):
    required_scope = Scope.PUBLISH
    topic_kwarg = "topic"
    max_request_bytes_setting = "SWITCHBOARD_MAX_BATCH_REQUEST_BYTES"

    @extend_schema(request=PublishBatchRequestSerializer, responses={202: PublishBatchResponseSerializer})
    def post(self, request: Request, topic: str) -> Response:
        batch = PublishBatchRequestSerializer(data=request.data)
        batch.is_valid(raise_exception=True)
        items = batch.validated_data["messages"]
        parsed: list[dict[str, Any]] = []
        invalid: dict[int, errors.PublishError] = {}
        for index, item in enumerate(items):
            serializer = PublishRequestSerializer(data=item)
            if serializer.is_valid():
                parsed.append(serializer.validated_data)
            else:
                invalid[index] = errors.InvalidMessageError(errors=serializer.errors)
        published = iter(services.publish_many(topic=topic, messages=parsed))
        results: list[dict[str, Any]] = []
        for index in range(len(items)):
            outcome = invalid[index] if index in invalid else next(published)
            if isinstance(outcome, errors.PublishError):
                results.append({"error": problem_body(outcome)})
            else:
                results.append({"id": str(outcome.id), "published_at": outcome.published_at})
        accepted = sum("id" in r for r in results)
        body = {"results": results, "accepted": accepted, "failed": len(results) - accepted}
        return Response(PublishBatchResponseSerializer(body).data, status=status.HTTP_202_ACCEPTED)


class MessageDetailView(APIView):
    required_scope = Scope.READ

    @extend_schema(responses={200: MessageStatusSerializer})
    def get(self, request: Request, message_id: uuid.UUID) -> Response:
        message = selectors.message_get(message_id=message_id, topics=visible_topics(request))
        if message is None:
            raise selectors.UnknownMessageError(message_id)
        return Response(MessageStatusSerializer(message).data)
