"""The registries' staff pages (namespace "registries"), mounted at /registries/."""

from django.urls import path

from registries import views

app_name = "registries"

urlpatterns = [
    path("", views.registry_list, name="list"),
    path("define/", views.registry_define, name="define"),
    path("imports/<int:batch_id>/", views.import_batch, name="import"),
    path("<slug:name>/v<int:version>/", views.registry_detail, name="detail"),
    path("<slug:name>/v<int:version>/import/", views.registry_import, name="import_file"),
    path(
        "<slug:name>/v<int:version>/records/<str:reference>/",
        views.record_edit,
        name="record",
    ),
]
