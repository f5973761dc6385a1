"""Read subscriptions (with their queue depth); pause and resume them."""

from collections.abc import Callable

import redis
from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.scopes import Scope
from apps.accounts.topics import visible_topics
from apps.topology import selectors, services
from apps.topology.api.serializers import SubscriptionSerializer
from apps.topology.models import Subscription


def _render(subscriptions: list[Subscription], *, many: bool, **extra: object) -> Response:
    try:
        depths = selectors.queue_depths(queues=[s.queue for s in subscriptions])
    except redis.RedisError:
        depths = {}  # Redis unreachable: the depth is unknown (null), the rest still answers
    serializer = SubscriptionSerializer(subscriptions if many else subscriptions[0], many=many)
    serializer.context["queue_depths"] = depths
    return Response({**serializer.data, **extra} if extra else serializer.data)


def _subscription(request: Request, name: str) -> Subscription:
    subscription = selectors.subscription_get(name=name, topics=visible_topics(request))
    if subscription is None:
        raise selectors.UnknownSubscriptionError(name)
    return subscription


class SubscriptionListView(APIView):
    required_scope = Scope.READ

    @extend_schema(responses={200: SubscriptionSerializer(many=True)})
    def get(self, request: Request) -> Response:
        return _render(selectors.subscriptions_list(topics=visible_topics(request)), many=True)


class SubscriptionDetailView(APIView):
    required_scope = Scope.READ

    @extend_schema(responses={200: SubscriptionSerializer})
    def get(self, request: Request, name: str) -> Response:
        return _render([_subscription(request, name)], many=False)


class _SubscriptionSwitchView(APIView):
    """POST switches the named subscription with `switch` (a service) and shows it."""

    required_scope = Scope.REPLAY
    switch: Callable[..., int | None]

    @extend_schema(request=None, responses={200: SubscriptionSerializer})
    def post(self, request: Request, name: str) -> Response:
        subscription = _subscription(request, name)
        confirmed = type(self).switch(subscription=subscription)
        return _render([subscription], many=False, workers_confirmed=confirmed)


class SubscriptionPauseView(_SubscriptionSwitchView):
    switch = staticmethod(services.subscription_pause)


class SubscriptionResumeView(_SubscriptionSwitchView):
    switch = staticmethod(services.subscription_resume)
