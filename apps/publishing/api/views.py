"""Publish a message; read a message's delivery status."""

import uuid
from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.api.problems import problem, problem_response
from apps.publishing import idempotency, selectors, services
from apps.publishing.api.serializers import (
    MessageStatusSerializer,
    PublishBatchRequestSerializer,
    PublishBatchResponseSerializer,
    PublishRequestSerializer,
    PublishResponseSerializer,
)


def publish_error_problem(exc: services.PublishError) -> dict[str, Any]:
    """Describe a publish error as a problem-details body."""
    if isinstance(exc, services.UnknownTopic):
        body = problem(status_code=404, title="Unknown topic", detail=str(exc), code="unknown-topic")
    elif isinstance(exc, idempotency.IdempotencyKeyReused):
        body = problem(status_code=422, title="Idempotency key reused", detail=str(exc), code="idempotency-key-reused")
    elif isinstance(exc, idempotency.IdempotencyKeyInFlight):
        body = problem(
            status_code=409, title="Idempotency key in flight", detail=str(exc), code="idempotency-key-in-flight"
        )
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
    return body


class TopicMessagesView(APIView):
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
        try:
            if idempotency_key is None:
                receipt = idempotency.Receipt(
                    body=idempotency.message_receipt(services.publish(**fields)), replayed=False
                )
            else:
                scope = idempotency.api_scope(request.auth.pk)
                receipt = idempotency.publish_idempotent(scope=scope, key=idempotency_key, fields=fields)
        except services.PublishError as exc:
            body = publish_error_problem(exc)
            retry = {"Retry-After": "1"} if body["status"] == status.HTTP_409_CONFLICT else None
            return problem_response(body, retry)
        headers = {"Idempotent-Replayed": "true"} if receipt.replayed else None
        return Response(receipt.body, status=status.HTTP_202_ACCEPTED, headers=headers)


class TopicMessagesBatchView(APIView):
    max_request_bytes_setting = "SWITCHBOARD_MAX_BATCH_REQUEST_BYTES"

    @extend_schema(request=PublishBatchRequestSerializer, responses={202: PublishBatchResponseSerializer})
    def post(self, request: Request, topic: str) -> Response:
        batch = PublishBatchRequestSerializer(data=request.data)
        batch.is_valid(raise_exception=True)
        items = batch.validated_data["messages"]
        parsed: list[dict[str, Any]] = []
        errors: dict[int, dict[str, Any]] = {}
        for index, item in enumerate(items):
            serializer = PublishRequestSerializer(data=item)
            if serializer.is_valid():
                parsed.append(serializer.validated_data)
            else:
                errors[index] = invalid_item_problem(serializer.errors)
        try:
            published = iter(services.publish_many(topic=topic, messages=parsed))
        except services.PublishError as exc:
            return problem_response(publish_error_problem(exc))
        results: list[dict[str, Any]] = []
        for index in range(len(items)):
            if index in errors:
                results.append({"error": errors[index]})
                continue
            outcome = next(published)
            if isinstance(outcome, services.PublishError):
                results.append({"error": publish_error_problem(outcome)})
            else:
                results.append({"id": str(outcome.id), "published_at": outcome.published_at})
        accepted = sum("id" in r for r in results)
        body = {"results": results, "accepted": accepted, "failed": len(results) - accepted}
        return Response(PublishBatchResponseSerializer(body).data, status=status.HTTP_202_ACCEPTED)


def invalid_item_problem(errors: dict[str, Any]) -> dict[str, Any]:
    detail = "; ".join(f"{field}: {' '.join(map(str, messages))}" for field, messages in errors.items())
    return problem(status_code=400, title="Invalid message", detail=detail, code="invalid-message", errors=errors)


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
