"""Topics and subscriptions over REST: list, create, update, delete; pause, resume; statistics; export.

Changes go through apps.topology.changes, so they pass the validator the file and the
admin use and have the file's effect.
"""

from collections.abc import Callable

import redis
from django.db.models import QuerySet
from django.http import HttpResponse
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.audit import Actor
from apps.accounts.scopes import Scope
from apps.accounts.topics import TopicNotVisibleError, visible_topics
from apps.topology import changes, selectors, services, statistics
from apps.topology.api.serializers import (
    SubscriptionSerializer,
    SubscriptionStatisticsSerializer,
    SubscriptionUpdateSerializer,
    SubscriptionWriteSerializer,
    TopicSerializer,
    TopicUpdateSerializer,
    TopicWriteSerializer,
)
from apps.topology.export import topology_export
from apps.topology.models import Subscription, Topic
from apps.topology.specs import TopicSpec

READ_AND_CHANGE = {"GET": Scope.READ, "POST": Scope.ADMIN, "PATCH": Scope.ADMIN, "DELETE": Scope.ADMIN}


def _render(subscriptions: list[Subscription], *, many: bool, status_code: int = 200, **extra: object) -> Response:
    try:
        depths = selectors.queue_depths(queues=[s.queue for s in subscriptions])
    except redis.RedisError:
        depths = {}  # Redis unreachable: the depth is unknown (null), the rest still answers
    serializer = SubscriptionSerializer(subscriptions if many else subscriptions[0], many=many)
    serializer.context["queue_depths"] = depths
    return Response({**serializer.data, **extra} if extra else serializer.data, status=status_code)


def _subscription(request: Request, name: str) -> Subscription:
    subscription = selectors.subscription_get(name=name, topics=visible_topics(request))
    if subscription is None:
        raise selectors.UnknownSubscriptionError(name)
    return subscription


def _topics(request: Request) -> QuerySet[Topic]:
    """The topics the request's key may reach (all for an unrestricted key)."""
    return visible_topics(request).filter(Topic.objects.prefetch_related("subscriptions"), "name")


def _check_visible(request: Request, topic: str) -> None:
    """A key limited to some topics creates and moves things only within them; others look unknown."""
    if not visible_topics(request).allows(topic):
        raise TopicNotVisibleError(topic)


def _topic(request: Request, name: str) -> Topic:
    topic = _topics(request).filter(name=name).first()
    if topic is None:
        raise selectors.TopicNotFoundError(name)
    return topic


class TopicListView(APIView):
    required_scope = READ_AND_CHANGE

    @extend_schema(responses={200: TopicSerializer(many=True)})
    def get(self, request: Request) -> Response:
        return Response(TopicSerializer(_topics(request).order_by("name"), many=True).data)

    @extend_schema(request=TopicWriteSerializer, responses={201: TopicSerializer})
    def post(self, request: Request) -> Response:
        serializer = TopicWriteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        _check_visible(request, serializer.validated_data["name"])
        topic = changes.topic_create(spec=TopicSpec(**serializer.validated_data), actor=Actor.from_request(request))
        return Response(TopicSerializer(topic).data, status=status.HTTP_201_CREATED)


class TopicDetailView(APIView):
    required_scope = READ_AND_CHANGE

    @extend_schema(responses={200: TopicSerializer})
    def get(self, request: Request, name: str) -> Response:
        return Response(TopicSerializer(_topic(request, name)).data)

    @extend_schema(request=TopicUpdateSerializer, responses={200: TopicSerializer})
    def patch(self, request: Request, name: str) -> Response:
        serializer = TopicUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        topic = changes.topic_update(
            topic=_topic(request, name), changes=serializer.validated_data, actor=Actor.from_request(request)
        )
        return Response(TopicSerializer(topic).data)

    @extend_schema(responses={204: None})
    def delete(self, request: Request, name: str) -> Response:
        changes.topic_delete(topic=_topic(request, name), actor=Actor.from_request(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


class SubscriptionListView(APIView):
    required_scope = READ_AND_CHANGE

    @extend_schema(responses={200: SubscriptionSerializer(many=True)})
    def get(self, request: Request) -> Response:
        return _render(selectors.subscriptions_list(topics=visible_topics(request)), many=True)

    @extend_schema(request=SubscriptionWriteSerializer, responses={201: SubscriptionSerializer})
    def post(self, request: Request) -> Response:
        serializer = SubscriptionWriteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        _check_visible(request, serializer.validated_data["topic"])
        subscription = changes.subscription_create(
            spec=changes.subscription_spec_new(serializer.validated_data), actor=Actor.from_request(request)
        )
        return _render([subscription], many=False, status_code=status.HTTP_201_CREATED)


class SubscriptionDetailView(APIView):
    required_scope = READ_AND_CHANGE

    @extend_schema(responses={200: SubscriptionSerializer})
    def get(self, request: Request, name: str) -> Response:
        return _render([_subscription(request, name)], many=False)

    @extend_schema(request=SubscriptionUpdateSerializer, responses={200: SubscriptionSerializer})
    def patch(self, request: Request, name: str) -> Response:
        serializer = SubscriptionUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        if "topic" in serializer.validated_data:
            _check_visible(request, serializer.validated_data["topic"])
        subscription = changes.subscription_update(
            subscription=_subscription(request, name),
            changes=serializer.validated_data,
            actor=Actor.from_request(request),
        )
        return _render([subscription], many=False)

    @extend_schema(responses={204: None})
    def delete(self, request: Request, name: str) -> Response:
        changes.subscription_delete(subscription=_subscription(request, name), actor=Actor.from_request(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


class SubscriptionStatisticsView(APIView):
    required_scope = Scope.READ

    @extend_schema(responses={200: SubscriptionStatisticsSerializer})
    def get(self, request: Request, name: str) -> Response:
        stats = statistics.subscription_statistics(subscription=_subscription(request, name))
        return Response(SubscriptionStatisticsSerializer(stats).data)


class TopologyExportView(APIView):
    required_scope = Scope.ADMIN

    @extend_schema(responses={200: OpenApiResponse(description="topology.yaml")})
    def get(self, request: Request) -> HttpResponse:
        # A key limited to some topics exports those topics and their subscriptions only.
        return HttpResponse(
            topology_export(topics_visible=visible_topics(request)), content_type="application/yaml; charset=utf-8"
        )


class _SubscriptionSwitchView(APIView):
    """POST switches the named subscription with `switch` (a service) and shows it."""

    required_scope = Scope.REPLAY
    switch: Callable[..., int | None]

    @extend_schema(request=None, responses={200: SubscriptionSerializer})
    def post(self, request: Request, name: str) -> Response:
        subscription = _subscription(request, name)
        confirmed = type(self).switch(subscription=subscription, actor=Actor.from_request(request))
        return _render([subscription], many=False, workers_confirmed=confirmed)


class SubscriptionPauseView(_SubscriptionSwitchView):
    switch = staticmethod(services.subscription_pause)


class SubscriptionResumeView(_SubscriptionSwitchView):
    switch = staticmethod(services.subscription_resume)
