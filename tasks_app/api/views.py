"""Task and Socket API: validate, call a service or selector, serialize.

Routes are mapped explicitly in urls.py / socket_urls.py so the paths are exactly
those of the API document (plus task/recent/, task/<id>/ and task/<id>/cancel/).
"""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status, viewsets
from rest_framework.parsers import JSONParser
from rest_framework.response import Response

from vframe_search.api.pagination import OffsetLimitPagination

from .. import selectors, services
from ..models import TaskState
from ..registry import ProgressTestParams, task_specs_for
from .serializers import (
    ConnectedSerializer,
    TaskRunRequestSerializer,
    TaskRunSerializer,
    TaskSpecSerializer,
    TaskStartedSerializer,
)

_ERROR = inline_serializer(
    "TaskErrorEnvelope",
    fields={
        "status": serializers.ChoiceField(choices=["error"]),
        "error": inline_serializer(
            "TaskError",
            fields={"code": serializers.CharField(), "message": serializers.CharField(), "fields": serializers.DictField(required=False)},
        ),
    },
)
_DESCRIPTIONS = {
    400: "Unknown task or invalid params (reasons in error.fields).",
    401: "Not authenticated.",
    403: "Staff-only task.",
    404: "No such task (or not one of yours).",
    409: "The task has already finished.",
    415: "The body is not JSON.",
    503: "The broker, Redis or every worker is unreachable (the reason is in error.message).",
}


_PAGE_PARAMS = [
    OpenApiParameter("offset", OpenApiTypes.INT),
    OpenApiParameter("limit", OpenApiTypes.INT),
    OpenApiParameter("sort", OpenApiTypes.STR, enum=["date", "id"]),
    OpenApiParameter("order", OpenApiTypes.STR, enum=["asc", "desc"]),
]
# recent/ answers one page (OffsetLimitPagination's shape) of task runs.
_RECENT_PAGE = inline_serializer(
    "TaskRunPage",
    fields={
        "count": serializers.IntegerField(),
        "offset": serializers.IntegerField(),
        "limit": serializers.IntegerField(),
        "sort": serializers.ChoiceField(choices=["date", "id"]),
        "order": serializers.ChoiceField(choices=["asc", "desc"]),
        "results": TaskRunSerializer(many=True),
    },
)


def _errors(*codes: int) -> dict:
    return {code: OpenApiResponse(_ERROR, description=_DESCRIPTIONS[code]) for code in (401, *codes)}


class TaskViewSet(viewsets.ViewSet):
    """Background tasks: what may run, start one, watch it, cancel it, see the queues."""

    parser_classes = [JSONParser]
    # No pagination_class: drf-spectacular would then describe list (a plain list of
    # task specs) as a page. Only recent/ pages, with its own paginator.

    @extend_schema(summary="Tasks you may run, with their parameter schemas", responses={200: TaskSpecSerializer(many=True), **_errors()})
    def list(self, request):
        return Response(TaskSpecSerializer(task_specs_for(user=request.user), many=True).data)

    @extend_schema(
        summary="Queues and workers as Celery sees them", responses={200: OpenApiResponse(description="mode, broker, queues, workers"), **_errors(503)}
    )
    def info(self, request):
        return Response(selectors.task_queue_info(include_params=request.user.is_staff))

    @extend_schema(summary="Run a task", request=TaskRunRequestSerializer, responses={202: TaskStartedSerializer, **_errors(400, 403, 415, 503)})
    def run(self, request):
        body = TaskRunRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        run = services.task_start(name=body.validated_data["task_name"], params=body.validated_data["params"], user=request.user)
        return Response(TaskStartedSerializer(run).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(
        summary="Run the test task (progress over the websocket)", request=ProgressTestParams, responses={202: TaskStartedSerializer, **_errors(400, 415, 503)}
    )
    def test(self, request):
        run = services.task_start(name="test", params=request.data, user=request.user)
        return Response(TaskStartedSerializer(run).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(
        summary="Recent tasks (yours; staff see all)",
        parameters=_PAGE_PARAMS,
        responses={200: _RECENT_PAGE, **_errors(400)},
    )
    def recent(self, request):
        paginator = OffsetLimitPagination()
        page = paginator.paginate_queryset(selectors.task_run_list(user=request.user), request, view=self)
        return paginator.get_paginated_response(TaskRunSerializer(page, many=True).data)

    @extend_schema(summary="A task's state, progress, result or error", responses={200: TaskRunSerializer, **_errors(404)})
    def retrieve(self, request, task_id: str):
        return Response(TaskRunSerializer(selectors.task_run_get(task_id=task_id, user=request.user)).data)

    @extend_schema(
        summary="Cancel a pending or running task",
        request=None,
        responses={200: TaskRunSerializer, 202: TaskRunSerializer, **_errors(404, 409)},
        description="200 when the task is cancelled already (it had not started); 202 while a running task is being stopped.",
    )
    def cancel(self, request, task_id: str):
        run = services.task_cancel(run=selectors.task_run_get(task_id=task_id, user=request.user))
        code = status.HTTP_200_OK if run.state == TaskState.REVOKED else status.HTTP_202_ACCEPTED
        return Response(TaskRunSerializer(run).data, status=code)


class SocketViewSet(viewsets.ViewSet):
    """Who is connected to the websocket layer now."""

    @extend_schema(summary="Connected websocket clients and Celery workers", responses={200: ConnectedSerializer, **_errors(503)})
    def clients(self, request):
        return Response(selectors.connected_clients())
