"""The registry's API: one router, made of one sub-router per part of the app."""

from ninja import Router

from registry.api.feeds import router as feeds_router
from registry.api.persons import router as persons_router
from registry.api.records import router as records_router
from registry.api.review import router as review_router

router = Router(tags=["registry"])
router.add_router("", records_router)
router.add_router("", persons_router)
router.add_router("", review_router)
router.add_router("", feeds_router)
