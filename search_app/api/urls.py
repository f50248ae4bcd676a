"""Search API routes, exactly as in the API document."""

from django.urls import path

from search_app.api import detection_views as d
from search_app.api import record_views as r
from search_app.api import search_views as v
from search_app.api import text_views as t

urlpatterns = [
    path("info/", v.SearchInfoView.as_view(), name="search-info"),
    path("detections/", d.DetectionSearchView.as_view(), name="search-detections"),
    path("detections/media/<int:id>/", d.MediaDetectionsView.as_view(), name="search-detections-media"),
    path("load/<int:id>/", v.SearchLoadView.as_view(), name="search-load"),
    path("load_detection_model/<str:key>/", v.SearchLoadDetectionModelView.as_view(), name="search-load-detection-model"),
    path("media/<int:id>/", v.SearchMediaView.as_view(), name="search-media"),
    path("random/<str:seed>/", v.SearchRandomView.as_view(), name="search-random"),
    path("sha256/<str:hash>/", v.SearchSha256View.as_view(), name="search-sha256"),
    path("upload/<int:id>/", v.SearchUploadView.as_view(), name="search-upload"),
    path("text/", t.SearchTextView.as_view(), name="search-text"),
    path("records/", r.SearchRecordListView.as_view(), name="search-records"),
    path("batch/", r.BatchSearchView.as_view(), name="search-batch"),
    path("batch/<str:task_id>/report.html", r.BatchReportHtmlView.as_view(), name="search-batch-report-html"),
    path("batch/<str:task_id>/report.csv", r.BatchReportCsvView.as_view(), name="search-batch-report-csv"),
    path("batch/<str:task_id>/report.zip", r.BatchReportZipView.as_view(), name="search-batch-report-zip"),
]
