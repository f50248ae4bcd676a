"""Task and Socket API: validate, call a service or selector, serialize.

Routes are mapped explicitly in urls.py / socket_urls.py so the paths are exactly
those of the API document (plus task/recent/, task/<id>/ and task/<id>/cancel/).
"""

from __future__ import annotations

from functools import partial

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status, viewsets
from rest_framework.parsers import JSONParser
from rest_framework.response import Response

from core.api.pagination import OffsetLimitPagination
from core.api.schema import error_responses

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

_errors = partial(
    error_responses,
    {
        400: "Unknown task or invalid params (reasons in error.fields).",
        403: "Staff-only task.",
        404: "No such task (or not one of yours).",
        409: "The task has already finished.",
        415: "The body is not JSON.",
        429: "Too many of your tasks are queued or running (error.code too_many_tasks), or the run's searches do not fit in your rate.",
        503: "The broker, Redis or every worker is unreachable (the reason is in error.message).",
    },
)


class TaskViewSet(viewsets.ViewSet):
    """Background tasks: what may run, start one, watch it, cancel it, see the queues."""

    parser_classes = [JSONParser]

    @property
    def pagination_class(self):
        # Only recent/ pages: list is a plain list of task specs, and drf-spectacular
        # would describe it as a page too.
        return OffsetLimitPagination if getattr(self, "action", None) == "recent" else None

    @extend_schema(summary="Tasks you may run, with their parameter schemas", responses={200: TaskSpecSerializer(many=True), **_errors()})
    def list(self, request):
        return Response(TaskSpecSerializer(task_specs_for(user=request.user), many=True).data)

    @extend_schema(
        summary="Queues and workers as Celery sees them (curators see only their own tasks listed; staff every task)",
        responses={200: OpenApiResponse(description="mode, broker, queues, workers"), **_errors(503)},
    )
    def info(self, request):
        return Response(selectors.task_queue_info(user=request.user))

    @extend_schema(summary="Run a task", request=TaskRunRequestSerializer, responses={202: TaskStartedSerializer, **_errors(400, 403, 415, 429, 503)})
    def run(self, request):
        body = TaskRunRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        run = services.task_start(name=body.validated_data["task_name"], params=body.validated_data["params"], user=request.user)
        return Response(TaskStartedSerializer(run).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(
        summary="Run the test task (progress over the websocket)",
        request=ProgressTestParams,
        responses={202: TaskStartedSerializer, **_errors(400, 415, 429, 503)},
    )
    def test(self, request):
        run = services.task_start(name="test", params=request.data, user=request.user)
        return Response(TaskStartedSerializer(run).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(
        operation_id="task_recent_retrieve",  # its name before it was described as a list
        summary="Recent tasks (yours; staff see all)",
        responses={200: TaskRunSerializer(many=True), **_errors(400)},
    )
    def recent(self, request):
        paginator = self.pagination_class()
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
        return Response(ConnectedSerializer(selectors.connected_clients()).data)
