"""Graph API errors in Meta's exact envelope (digest §5.7, §9), one constructor per situation."""

from __future__ import annotations

import secrets
import string
from datetime import UTC, datetime
from typing import Any

_TRACE_ALPHABET = string.ascii_letters + string.digits + "_-"
TRANSIENT_CODES = (1, 2, 4, 17, 32, 341, 613, 1200, 80001, 80006)


def _fbtrace_id() -> str:
    return "A" + "".join(secrets.choice(_TRACE_ALPHABET) for _ in range(22))


class GraphError(Exception):
    """An error the Graph API answers with `{"error": {...}}`.

    `message` is the full human text as Meta prints it; most codes prefix it with `(#code)`,
    OAuth token errors (190) do not.
    """

    def __init__(
        self,
        code: int,
        message: str,
        *,
        subcode: int | None = None,
        type: str = "OAuthException",  # noqa: A002 - Meta's field name
        status: int = 400,
        user_title: str | None = None,
        user_msg: str | None = None,
        is_transient: bool | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.subcode = subcode
        self.type = type
        self.status = status
        self.user_title = user_title
        self.user_msg = user_msg
        self.is_transient = is_transient
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"message": self.message, "type": self.type, "code": self.code}
        if self.subcode is not None:
            error["error_subcode"] = self.subcode
        if self.user_title is not None:
            error["error_user_title"] = self.user_title
        if self.user_msg is not None:
            error["error_user_msg"] = self.user_msg
        if self.is_transient is not None:
            error["is_transient"] = self.is_transient
        error["fbtrace_id"] = _fbtrace_id()
        return {"error": error}

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> GraphError:
        """Build an injected error from a fault spec (`code`, `subcode`, `message`, `status`)."""
        code = int(spec.get("code", 2))
        message = str(spec.get("message") or f"(#{code}) Injected error")
        subcode = spec.get("subcode")
        return cls(
            code,
            message,
            subcode=int(subcode) if subcode is not None else None,
            type=str(spec.get("type", "OAuthException")),
            status=int(spec.get("status", 400)),
            # Meta marks its transient codes (digest §9) so; an injected one should look the same.
            is_transient=spec.get("is_transient", True if code in TRANSIENT_CODES else None),
        )


def _stamp(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%A, %d-%b-%y %H:%M:%S UTC")


# --- tokens (190 and friends) -----------------------------------------------------------------


def token_unparseable() -> GraphError:
    return GraphError(190, "Invalid OAuth access token - Cannot parse access token")


def token_missing() -> GraphError:
    return GraphError(
        104, "An access token is required to request this resource.", type="OAuthException"
    )


def token_expired(expired_at: float, now: float) -> GraphError:
    return GraphError(
        190,
        f"Error validating access token: Session has expired on {_stamp(expired_at)}. "
        f"The current time is {_stamp(now)}.",
        subcode=463,
    )


def token_password_changed() -> GraphError:
    return GraphError(
        190,
        "Error validating access token: The session has been invalidated because the user "
        "changed their password or Facebook has changed the session for security reasons.",
        subcode=460,
    )


def token_app_removed(app_id: str) -> GraphError:
    return GraphError(
        190,
        f"Error validating access token: The user has not authorized application {app_id}.",
        subcode=458,
    )


def token_logged_out() -> GraphError:
    return GraphError(
        190,
        "Error validating access token: The session is invalid because the user logged out.",
        subcode=467,
    )


def token_role_lost() -> GraphError:
    # Meta's wording for 492 is not documented in the digest; the code/subcode pair is.
    return GraphError(
        190,
        "Error validating access token: The session is invalid because the user no longer "
        "has a role on the Page.",
        subcode=492,
    )


TOKEN_ERRORS = {
    460: token_password_changed,
    467: token_logged_out,
    492: token_role_lost,
}


# --- requests -----------------------------------------------------------------------------------


def invalid_parameter(detail: str = "Invalid parameter", subcode: int | None = None) -> GraphError:
    return GraphError(100, f"(#100) {detail}", subcode=subcode)


def unknown_path(path: str) -> GraphError:
    return GraphError(
        100,
        f"Unsupported get request. Object with ID '{path}' does not exist, cannot be loaded due "
        "to missing permissions, or does not support this operation.",
        subcode=33,
        type="GraphMethodException",
    )


def unsupported_method(method: str, path: str) -> GraphError:
    return GraphError(
        100,
        f"Unsupported {method.lower()} request. Object with ID '{path}' does not exist, cannot be "
        "loaded due to missing permissions, or does not support this operation.",
        subcode=33,
        type="GraphMethodException",
    )


def permission_missing(permission: str) -> GraphError:
    return GraphError(
        200,
        f"(#200) Requires {permission} permission to manage the object",
    )


def permission_denied(detail: str) -> GraphError:
    return GraphError(10, f"(#10) {detail}")


# --- Send API --------------------------------------------------------------------------------


def no_matching_user() -> GraphError:
    return GraphError(100, "(#100) No matching user found", subcode=2018001)


def outside_window() -> GraphError:
    return GraphError(
        10,
        "(#10) This message is sent outside of allowed window. Learn more about the new policy "
        "here: https://developers.facebook.com/docs/messenger-platform/policy-overview",
        subcode=2018278,
        user_title="Message Not Sent",
        user_msg="This person isn't receiving messages from you right now.",
        is_transient=False,
    )


def development_mode() -> GraphError:
    return GraphError(
        200,
        "(#200) Cannot message users who are not admins, developers or testers of the app until "
        "pages_messaging permission is reviewed and the app is live.",
        subcode=2018028,
    )


def page_restricted() -> GraphError:
    return GraphError(
        10,
        "(#10) This Page is temporarily restricted from sending messages.",
        subcode=1893063,
    )


def user_unavailable() -> GraphError:
    return GraphError(
        551,
        "(#551) This person isn't available right now.",
        subcode=1545041,
        type="OAuthException",
    )


def thread_owned_by_other_app() -> GraphError:
    # The digest lists 2018300 in its code column without a parent code. Connectors are told
    # to match on the subcode alone, so we send it as the subcode of the permission code 10.
    return GraphError(10, "(#10) Another app is controlling this thread now.", subcode=2018300)


def not_thread_owner() -> GraphError:
    return GraphError(100, "(#100) You are not the thread owner.", subcode=2534037)


def message_and_action() -> GraphError:
    return invalid_parameter(
        "Message and sender action in a single request is not supported", subcode=2018014
    )


def rate_limited(headers: dict[str, str]) -> GraphError:
    return GraphError(
        613,
        "(#613) Calls to this api have exceeded the rate limit.",
        is_transient=True,
        headers=headers,
    )


def retired_tag(tag: str) -> GraphError:
    return invalid_parameter(f"The message tag {tag} is no longer supported.")


def bad_attachment_id() -> GraphError:
    return invalid_parameter("The attachment_id is invalid or has expired", subcode=2018074)


def service_unavailable() -> GraphError:
    return GraphError(
        2,
        "(#2) Service temporarily unavailable",
        status=503,
        is_transient=True,
    )
