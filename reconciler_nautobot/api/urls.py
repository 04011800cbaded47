"""/api/plugins/nbjobs/: managed-jobs, applies, runs, code-values (all read-only)."""

from __future__ import annotations

from nautobot.apps.api import OrderedDefaultRouter

from reconciler_nautobot.api import views

router = OrderedDefaultRouter(view_name="nbjobs")
router.register("managed-jobs", views.ManagedJobViewSet, basename="managedjob")
router.register("applies", views.ApplyViewSet, basename="apply")
router.register("runs", views.RunViewSet, basename="run")
router.register("code-values", views.CodeValueViewSet, basename="codevalue")

urlpatterns = router.urls
