"""The word search route: thin, like the image searches (validate, search, log, answer)."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.response import Response

from core.api.schema import error_response
from search_app.api.search_views import SearchView
from search_app.api.text_serializers import TextAnswer, TextSearchResultSerializer, parse_text_search_params
from search_app.text.search import text_search_record, text_search_run
from text_app.query import MAX_QUERY_CHARS

TEXT_PARAMS = [
    OpenApiParameter(
        "q",
        OpenApiTypes.STR,
        description=f'Words to find in the text read on pictures: all are required, "a phrase" keeps words together, a OR b, -word excludes. '
        f"At most {MAX_QUERY_CHARS} characters; other operator characters (& | ! ( ) * : ...) are refused unless quoted.",
    ),
    OpenApiParameter("label", OpenApiTypes.STR, description="An ImageNet class (tank, assault rifle, 847): pictures labelled with it, by probability."),
    OpenApiParameter("mode", OpenApiTypes.STR, enum=["words", "clip"], description="words (default): text and labels; clip: a CLIP feature's text tower."),
    OpenApiParameter("offset", OpenApiTypes.INT, description="Results to skip (offset + limit <= 4096)."),
    OpenApiParameter("limit", OpenApiTypes.INT, description="Results per page (default 30, at most 200)."),
    OpenApiParameter("media_type", OpenApiTypes.STR, enum=["image", "video_frame"]),
    OpenApiParameter("collection", OpenApiTypes.INT, description="Only media in this collection."),
    OpenApiParameter("date_from", OpenApiTypes.DATE, description="Only media imported on or after this day (UTC)."),
    OpenApiParameter("date_to", OpenApiTypes.DATE, description="Only media imported on or before this day (UTC)."),
    OpenApiParameter("min_score", OpenApiTypes.FLOAT, description="With label: its probability at least this."),
    OpenApiParameter("feature", OpenApiTypes.INT, description="mode=clip: the CLIP feature to search."),
]

_TEXT_ERRORS = {
    400: error_response("The query is empty, too long, uses operator syntax, names no ImageNet class, or a parameter is invalid (the message says which)."),
    409: error_response("mode=clip: no feature uses a CLIP model, or its index is not ready."),
    503: error_response("mode=clip: no CLIP weights on this machine (weights_missing); OCR engine missing."),
}


@extend_schema(parameters=TEXT_PARAMS, responses={200: TextSearchResultSerializer, **_TEXT_ERRORS})
class SearchTextView(SearchView):
    """Search by words: in the text read on pictures and video keyframes (OCR), in their
    ImageNet labels (label=), or through a CLIP text tower (mode=clip)."""

    def get(self, request):
        options = parse_text_search_params(request.query_params)
        outcome = text_search_run(options=options)
        record = text_search_record(outcome=outcome, options=options, user=request.user)
        answer = TextAnswer(outcome=outcome, options=options, record_id=record.pk)
        return Response(TextSearchResultSerializer(answer, context={"request": request}).data)
