from core.errors import ApplicationError, Conflict, NotFound, ValidationFailed


class AgencyExists(Conflict):
    code = "agency_exists"
    title = "An agency with this code already exists"


class UsernameTaken(Conflict):
    code = "username_taken"
    title = "This username is taken"


class RoleAlreadyGranted(Conflict):
    code = "role_already_granted"
    title = "The user already holds this role"


class RoleNotHeld(NotFound):
    code = "role_not_held"
    title = "The user does not hold this role"


class TokenNotFound(NotFound):
    code = "token_not_found"
    title = "No such token"


class InvalidScopes(ValidationFailed):
    code = "invalid_scopes"
    title = "Unknown token scopes"


class RoleNeedsAgency(ValidationFailed):
    code = "role_needs_agency"
    title = "This role must be granted within an agency"


class TotpUnavailable(ApplicationError):
    code = "totp_unavailable"
    status = 403
    title = "TOTP codes can only be printed for demo accounts in development"
