"""The Search API: thin views over search_app.query (search with a query source, log
it, serialize the answer) and the search settings in search_app.services."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api.ids import id_or_404
from core.api.permissions import IsStaff
from core.api.schema import error_response
from core.api.throttles import ScopedRateThrottle
from search_app.api.search_serializers import (
    SearchAnswer,
    SearchInfoSerializer,
    SearchLoadSerializer,
    SearchResultSerializer,
    parse_compare_feature,
    parse_search_params,
)
from search_app.query import records
from search_app.query.compare import hit_scores
from search_app.query.search import SearchOptions, search_run
from search_app.query.sources import MediaSource, QuerySource, RandomSource, Sha256Source, UploadSource, WordsFilter
from search_app.selectors import search_info
from search_app.services import detection_model_load, feature_load

SEARCH_PARAMS = [
    OpenApiParameter("offset", OpenApiTypes.INT, description="Results to skip (offset + limit <= 4096)."),
    OpenApiParameter("limit", OpenApiTypes.INT, description="Results per page (default 30, at most 200)."),
    OpenApiParameter("include_self", OpenApiTypes.BOOL, description="Return the query item itself too."),
    OpenApiParameter("media_type", OpenApiTypes.STR, enum=["image", "video", "video_frame"]),
    OpenApiParameter("collection", OpenApiTypes.INT, description="Only media in this collection."),
    OpenApiParameter("min_score", OpenApiTypes.FLOAT, description="Only results with at least this cosine similarity."),
    OpenApiParameter("group", OpenApiTypes.STR, enum=["video"], description="Collapse the frames of one video into its best frame."),
    OpenApiParameter("feature", OpenApiTypes.INT, description="Search this feature instead of the default one."),
    OpenApiParameter(
        "compare_feature",
        OpenApiTypes.INT,
        description="Also score each hit under this feature (e.g. the perceptual hash): adds scores {feature id: cosine} to every result.",
    ),
    OpenApiParameter("box", OpenApiTypes.STR, description="Region search: x1,y1,x2,y2 normalised to 0..1 on the upright query image (not on a whole video)."),
    OpenApiParameter(
        "text",
        OpenApiTypes.STR,
        description='Only pictures whose text (OCR) matches these words, same syntax as search/text/?q= (words, "phrase", OR, -word).',
    ),
]


_SEARCH_ERRORS = {
    409: error_response("No feature is ready to search, its index is building, failed or empty, or a video has no indexed frames (error.code says which)."),
    503: error_response("The model's weights, the index file or the detection model cannot be loaded here (the message says why)."),
}
_LOAD_ERRORS = {409: error_response("The feature's index is not ready."), 503: error_response("The index file or model cannot be loaded here.")}


class SearchView(APIView):
    """A search: rate-limited per user (scope ``search``), since each one runs the index
    and, for a new upload, the model."""

    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "search"


class StaffSettingView(APIView):
    """Changes a setting every user's searches follow: staff only."""

    permission_classes = [IsStaff]
    staff_only_message = "Only staff may change what every user's searches use."


def _search(request, source: QuerySource, options: SearchOptions, *, route: str) -> Response:
    """Search with ``source`` (only pictures whose text matches ``text=``, when given),
    log the search, and answer with its page."""
    text = request.query_params.get("text")
    if text is not None:
        from text_app.query import parse_query

        parse_query(text, field_name="text")  # a bad query is a 400 before anything runs
        source = WordsFilter(source, text)
    outcome = search_run(source=source, options=options)
    compare_id = parse_compare_feature(request.query_params)
    # Every answered search is logged; its id lets the page cite it when a hit is
    # added to a collection.
    record = records.search_record_create(outcome=outcome, options=options, route=route, user=request.user)
    scores = hit_scores(outcome=outcome, compare_feature_id=compare_id) if compare_id is not None else None
    answer = SearchAnswer(outcome=outcome, options=options, record_id=record.pk, scores=scores)
    return Response(SearchResultSerializer(answer, context={"request": request}).data)


@extend_schema(parameters=SEARCH_PARAMS, responses={200: SearchResultSerializer, **_SEARCH_ERRORS})
class SearchMediaView(SearchView):
    """Search with a media of the collection (by id)."""

    def get(self, request, id: int):
        options = parse_search_params(request.query_params)
        return _search(request, MediaSource.from_id(id_or_404(id)), options, route="media")


@extend_schema(parameters=SEARCH_PARAMS, responses={200: SearchResultSerializer, **_SEARCH_ERRORS})
class SearchSha256View(SearchView):
    """Search with the media or upload that has this sha256."""

    def get(self, request, hash: str):
        options = parse_search_params(request.query_params)
        return _search(request, Sha256Source(hash), options, route="sha256")


@extend_schema(parameters=SEARCH_PARAMS, responses={200: SearchResultSerializer, **_SEARCH_ERRORS})
class SearchUploadView(SearchView):
    """Search with an uploaded query image (embedded once, then kept)."""

    def get(self, request, id: int):
        options = parse_search_params(request.query_params)
        return _search(request, UploadSource.from_id(id_or_404(id)), options, route="upload")


@extend_schema(parameters=SEARCH_PARAMS, responses={200: SearchResultSerializer, **_SEARCH_ERRORS})
class SearchRandomView(SearchView):
    """Search with a media picked by ``seed``: the same seed and data give the same query."""

    def get(self, request, seed: str):
        options = parse_search_params(request.query_params)
        return _search(request, RandomSource(seed), options, route="random")


@extend_schema(request=None, responses={200: SearchLoadSerializer, **_LOAD_ERRORS})
class SearchLoadView(StaffSettingView):
    """Make a feature the default for searches (stored; every process follows). POST
    only: a change for everyone never rides on a GET a link can trigger."""

    def post(self, request, id: int):
        feature = feature_load(feature_id=id_or_404(id), user=request.user)
        return Response(SearchLoadSerializer(feature).data)


@extend_schema(request=None, responses={200: SearchLoadSerializer, **_LOAD_ERRORS})
class SearchLoadDetectionModelView(StaffSettingView):
    """Select the detection model run on query images (stored; every process follows).
    The key ``none`` turns detections off. POST only, like search/load/."""

    def post(self, request, key: str):
        name = detection_model_load(key=key, user=request.user)
        return Response(SearchLoadSerializer({"detection_model": name}).data)


@extend_schema(responses={200: SearchInfoSerializer})
class SearchInfoView(APIView):
    """The default feature and model, its index size and parameters, the memory the
    indexes hold in this process, and the selected detection model."""

    def get(self, request):
        return Response(SearchInfoSerializer(search_info()).data)
