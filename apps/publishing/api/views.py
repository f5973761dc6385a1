"""Publish a message; read a message's delivery status."""

import uuid
from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.audit import Actor
from apps.accounts.scopes import Scope
from apps.accounts.topics import visible_topics
from apps.core.api.problems import problem_body
from apps.publishing import cancel, errors, history, idempotency, selectors, services
from apps.publishing.api.serializers import (
    MessageCancelResponseSerializer,
    MessagePageSerializer,
    MessageStatusSerializer,
    PublishBatchRequestSerializer,
    PublishBatchResponseSerializer,
    PublishRequestSerializer,
    PublishResponseSerializer,
)
from apps.publishing.filters import MessageFilterSet

IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key",
    str,
    OpenApiParameter.HEADER,
    description="Repeat a publish safely: the same key and request return the first answer.",
)


class TopicMessagesView(APIView):
    required_scope = Scope.PUBLISH
    topic_kwarg = "topic"

    @extend_schema(
        request=PublishRequestSerializer,
        responses={202: PublishResponseSerializer},
        parameters=[IDEMPOTENCY_KEY],
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

    @extend_schema(
        request=PublishBatchRequestSerializer,
        responses={202: PublishBatchResponseSerializer},
        parameters=[IDEMPOTENCY_KEY],
    )
    def post(self, request: Request, topic: str) -> Response:
        batch = PublishBatchRequestSerializer(data=request.data)
        batch.is_valid(raise_exception=True)
        items = batch.validated_data["messages"]
        idempotency_key = request.headers.get("Idempotency-Key")
        if idempotency_key is None:
            receipt = idempotency.Receipt(body=_publish_batch(topic, items), replayed=False)
        else:
            receipt = idempotency.idempotently(
                scope=idempotency.api_scope(request.auth.pk),
                key=idempotency_key,
                fields={"topic": topic, "batch": items},
                run=lambda: _publish_batch(topic, items),
            )
        headers = {"Idempotent-Replayed": "true"} if receipt.replayed else None
        return Response(receipt.body, status=status.HTTP_202_ACCEPTED, headers=headers)


def _publish_batch(topic: str, items: list[Any]) -> dict[str, Any]:
    """Publish the valid items in one transaction; answer one result per item, in order, and the counts."""
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
    # Rendered to JSON types here, so that a replay stores and answers the same body.
    return dict(PublishBatchResponseSerializer(body).data)


class MessageListView(APIView):
    required_scope = Scope.READ

    @extend_schema(
        responses={200: MessagePageSerializer},
        parameters=[
            *(
                OpenApiParameter(name, str, description=str(f.extra.get("help_text", "")))
                for name, f in MessageFilterSet.base_filters.items()
            ),
            OpenApiParameter(
                "attribute", str, many=True, description="name=value: the attribute equals the value (repeatable)."
            ),
            OpenApiParameter("cursor", str, description="The next_cursor of the previous page."),
            OpenApiParameter(
                "limit",
                int,
                description=f"Messages per page, 1 to {history.MAX_LIMIT} (default {history.DEFAULT_LIMIT}).",
            ),
        ],
    )
    def get(self, request: Request) -> Response:
        params = request.query_params
        repeated = [n for n in params if n != "attribute" and len(params.getlist(n)) > 1]
        if repeated:
            raise history.InvalidMessageFilterError(errors={n: ["Give this filter once."] for n in repeated})
        try:
            limit = int(params.get("limit", history.DEFAULT_LIMIT))
        except ValueError:
            raise history.InvalidMessageFilterError(errors={"limit": ["Must be a whole number."]}) from None
        filters = {n: params[n] for n in params if n not in ("attribute", "cursor", "limit")}
        page = history.messages_page(
            filters=filters,
            attribute=params.getlist("attribute"),
            cursor=params.get("cursor"),
            limit=limit,
            topics=visible_topics(request),
        )
        next_url = None
        if page.next_cursor is not None:
            query = params.copy()
            query["cursor"] = page.next_cursor
            next_url = request.build_absolute_uri(f"{request.path}?{query.urlencode()}")
        body = {"results": page.messages, "next_cursor": page.next_cursor, "next": next_url}
        return Response(MessagePageSerializer(body).data)


class MessageDetailView(APIView):
    required_scope = Scope.READ

    @extend_schema(responses={200: MessageStatusSerializer})
    def get(self, request: Request, message_id: uuid.UUID) -> Response:
        message = selectors.message_get(message_id=message_id, topics=visible_topics(request))
        if message is None:
            raise selectors.UnknownMessageError(message_id)
        return Response(MessageStatusSerializer(message).data)


class MessageCancelView(APIView):
    """Cancel a message's deliveries that have not run (delayed, scheduled, waiting); report each."""

    # Cancelling changes what the hub delivers, an operator's act like a replay.
    required_scope = Scope.REPLAY

    @extend_schema(request=None, responses={200: MessageCancelResponseSerializer})
    def post(self, request: Request, message_id: uuid.UUID) -> Response:
        message = selectors.message_get(message_id=message_id, topics=visible_topics(request))
        if message is None:
            raise selectors.UnknownMessageError(message_id)
        outcomes = cancel.message_cancel(message=message, actor=Actor.from_request(request))
        body = {
            "id": str(message.pk),
            "cancelled": sum(o.outcome == cancel.CANCELLED for o in outcomes),
            "deliveries": [{"subscription": o.subscription, "outcome": o.outcome, "state": o.state} for o in outcomes],
        }
        return Response(MessageCancelResponseSerializer(body).data)
