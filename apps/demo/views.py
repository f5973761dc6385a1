"""The demo webhook receiver endpoint: a plain Django view, verified by signature, not by API key."""

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from apps.demo import services


@csrf_exempt  # Webhooks carry a signature, not a CSRF token.
@require_POST
def webhook_receiver(request: HttpRequest) -> HttpResponse:
    """Receive an order-email webhook; answer 204, or an error status with a JSON detail."""
    answer = services.demo_webhook_receive(
        body=request.body, headers=request.headers, secrets=services.demo_receiver_secrets()
    )
    if answer.status == 204:
        return HttpResponse(status=204)
    response = JsonResponse({"detail": answer.detail}, status=answer.status)
    if answer.retry_after is not None:
        response["Retry-After"] = str(answer.retry_after)
    return response
