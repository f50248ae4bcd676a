"""The search record (staff browse it; nobody edits it) and batch reverse search
(start a run from uploaded files or a ZIP; download its report)."""

from __future__ import annotations

from django.conf import settings
from django.core.files.storage import default_storage
from django.http import FileResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api.pagination import OffsetLimitPagination
from core.api.permissions import IsStaff
from core.api.schema import error_response
from core.errors import Conflict, InvalidInput, NotFound, PayloadTooLarge
from search_app.analysis import batch
from search_app.api.search_serializers import SearchRecordFilterSerializer, SearchRecordSerializer
from search_app.query import records
from tasks_app.models import TaskState


class SearchRecordListView(APIView):
    """Every search as it was answered, newest last by default; staff only. Read-only:
    the record is append-only, so this route has no write methods."""

    permission_classes = [IsStaff]
    pagination_class = OffsetLimitPagination
    staff_only_message = "Only staff may browse the search record."

    @extend_schema(
        operation_id="search_records_retrieve",  # its name before it was described as a list
        parameters=[
            OpenApiParameter("user", OpenApiTypes.INT, description="Only searches by this user id."),
            OpenApiParameter("media", OpenApiTypes.INT, description="Only searches with this media as the query."),
        ],
        responses={200: SearchRecordSerializer(many=True)},
    )
    def get(self, request):
        filters = SearchRecordFilterSerializer(data={k: v for k, v in request.query_params.items() if k in ("user", "media") and v != ""})
        filters.is_valid(raise_exception=True)
        qs = records.search_record_list(user_id=filters.validated_data.get("user"), media_id=filters.validated_data.get("media"))
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(qs, request, view=self)
        return paginator.get_paginated_response(SearchRecordSerializer([records.search_record_as_dict(r) for r in page], many=True).data)


class BatchStartedSerializer(serializers.Serializer):
    task_id = serializers.CharField()
    queries = serializers.IntegerField()
    skipped = serializers.ListField(child=serializers.DictField(), help_text=f"The first {batch.MAX_SKIPPED_LISTED} files skipped, with code and reason.")
    skipped_count = serializers.IntegerField(help_text="How many files were skipped in all.")


# Room for the multipart boundaries and the small form fields around the files.
_MULTIPART_OVERHEAD = 64 * 1024


class BatchSearchView(APIView):
    """Start a batch reverse search from uploaded images (``files``, repeatable) and/or
    ZIPs of images (``zip``). Each image is stored as an upload after the same checks
    as upload/; bad ones are skipped and listed with their reason. Parameters k,
    min_score and feature go in the form too. The run is a task (task/recent/ lists
    it); its result links the report.

    The work is bounded before it starts: the body (``VFRAME_BATCH_MAX_BYTES``), each
    ZIP's entries and declared size, read from its directory before any member
    (413), at most 500 files read; and each file read counts against the user's upload
    rate and each search against the search rate (429 before anything is stored).
    """

    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(
        request={
            "multipart/form-data": {
                "type": "object",
                "properties": {
                    "files": {"type": "array", "items": {"type": "string", "format": "binary"}},
                    "zip": {"type": "string", "format": "binary"},
                    "k": {"type": "integer"},
                    "min_score": {"type": "number"},
                    "feature": {"type": "integer"},
                },
            }
        },
        responses={
            202: BatchStartedSerializer,
            400: error_response("No query image could be used, or a parameter is invalid."),
            413: error_response("The body, a ZIP's entry count or its declared uncompressed size is above the batch limits."),
            429: error_response("The batch's images do not fit in the user's upload or search rate, or the user has too many tasks running."),
        },
    )
    def post(self, request):
        from core.api.throttles import throttle_charge
        from tasks_app.services import task_quota_check, task_start

        # Refuse an oversized body before the multipart parser spools it to disk.
        declared = request.META.get("CONTENT_LENGTH") or "0"
        if declared.isdigit() and int(declared) > settings.BATCH_MAX_BYTES + _MULTIPART_OVERHEAD:
            raise PayloadTooLarge(f"Request body is {declared} bytes, above the batch limit of {settings.BATCH_MAX_BYTES} bytes.")
        params = {k: request.data.get(k) for k in ("k", "min_score", "feature") if request.data.get(k) not in (None, "")}
        files, archives = request.FILES.getlist("files"), request.FILES.getlist("zip")
        if not files and not archives:
            raise InvalidInput("Send query images as files, or a ZIP of them as zip.", fields={"files": ["No file was sent."]})
        # Check the parameters before storing anything.
        from search_app.tasks import BatchSearchParams

        check = BatchSearchParams(data=params)
        check.is_valid()
        bad = {name: errors for name, errors in check.errors.items() if name in params}
        if bad:
            raise InvalidInput("Invalid batch search parameters.", fields=bad)
        task_quota_check(user=request.user)
        plan = batch.batch_plan(files=files, archives=archives)
        try:
            # Every file read is stored like an upload and searched: both counted now.
            throttle_charge(scope="upload", user=request.user, count=max(plan.reads, 1), what="images to store")
            throttle_charge(scope="search", user=request.user, count=plan.reads, what="searches")
            got = batch.batch_store(plan=plan, user=request.user)
        finally:
            plan.close()
        if not got.queries:
            raise InvalidInput("None of the files is a usable image.", fields={"files": [f"{s['name']}: {s['message']}" for s in got.skipped[:50]]})
        refused = {"skipped": got.skipped, "skipped_count": got.skipped_count}
        run = task_start(name="batch_search", params={**params, "queries": got.queries}, user=request.user, server_params=refused, charge=False)
        started = BatchStartedSerializer({"task_id": run.task_id, "queries": len(got.queries), **refused})
        return Response(started.data, status=status.HTTP_202_ACCEPTED)


_CONTENT_TYPES = {"html": "text/html; charset=utf-8", "csv": "text/csv; charset=utf-8", "zip": "application/zip"}


def _report_view(fmt: str):
    class BatchReportView(APIView):
        """A batch run's report; its owner or staff (others get 404, like task/<id>/)."""

        @extend_schema(
            responses={
                (200, _CONTENT_TYPES[fmt].split(";")[0]): OpenApiTypes.BINARY,
                404: error_response("No such run, or not yours."),
                409: error_response("The run has not finished (or failed)."),
            }
        )
        def get(self, request, task_id: str):
            from tasks_app.selectors import task_run_get

            run = task_run_get(task_id=task_id, user=request.user)
            if run.name != "batch_search":
                raise NotFound(f"Task {task_id!r} is not a batch search.")
            files = (run.result or {}).get("files") if isinstance(run.result, dict) else None
            if run.state != TaskState.SUCCESS or not files or fmt not in files:
                raise Conflict(f"Batch search {task_id} has no report yet (state {run.state}).", code="not_ready")
            try:
                handle = default_storage.open(files[fmt], "rb")
            except Exception:
                raise NotFound("The report file is no longer stored.") from None
            response = FileResponse(handle, content_type=_CONTENT_TYPES[fmt], as_attachment=fmt != "html", filename=f"batch-{task_id}-report.{fmt}")
            response["Content-Security-Policy"] = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
            return response

    BatchReportView.__name__ = BatchReportView.__qualname__ = f"BatchReport{fmt.capitalize()}View"
    return BatchReportView


BatchReportHtmlView = _report_view("html")
BatchReportCsvView = _report_view("csv")
BatchReportZipView = _report_view("zip")
