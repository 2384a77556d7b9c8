"""The GovStack Information Mediator directory API at /api/govstack/im/."""

from identity.govstack import govstack_api

api = govstack_api(
    namespace="im",
    title="CivicStack — GovStack Information Mediator directory API",
    version="1.0",
    description="Members, subsystems and the data services they publish.",
)
