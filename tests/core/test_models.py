"""The domain vocabulary: status ordering, Meta's limits on a reply, the contact's name."""

from __future__ import annotations

import itertools

import pytest

from frontdesk.core import (
    Attachment,
    Author,
    Contact,
    HandoffRequest,
    InvalidReply,
    LinkKind,
    MessageStatus,
    QuickReply,
    Reply,
    advance,
    can_advance,
    fallback_name,
)

S = MessageStatus

# The whole table of forward moves; every other pair is stale and ignored.
FORWARD = {
    (S.QUEUED, S.SENT),
    (S.QUEUED, S.DELIVERED),
    (S.QUEUED, S.READ),
    (S.QUEUED, S.FAILED),
    (S.QUEUED, S.BLOCKED),
    (S.SENT, S.DELIVERED),
    (S.SENT, S.READ),
    (S.DELIVERED, S.READ),
    # A send given up as unknown whose echo comes after all: it did go out.
    (S.FAILED, S.SENT),
}


@pytest.mark.parametrize(("current", "new"), list(itertools.product(S, S)))
def test_advance_moves_only_forward(current: MessageStatus, new: MessageStatus) -> None:
    expected = new if (current, new) in FORWARD else current
    assert advance(current, new) is expected
    assert can_advance(current, new) is ((current, new) in FORWARD)


def test_out_of_order_updates_end_at_the_furthest_status() -> None:
    status = S.QUEUED
    for update in (S.READ, S.DELIVERED, S.SENT, S.FAILED):
        status = advance(status, update)
    assert status is S.READ


@pytest.mark.parametrize("final", [S.BLOCKED, S.READ])
def test_final_statuses_ignore_every_update(final: MessageStatus) -> None:
    assert {advance(final, update) for update in S} == {final}


def test_a_failed_message_is_never_made_delivered_or_read_by_a_watermark() -> None:
    assert advance(S.FAILED, S.DELIVERED) is S.FAILED
    assert advance(S.FAILED, S.READ) is S.FAILED


def test_link_kinds_name_the_author_of_their_replies() -> None:
    assert {kind: kind.author for kind in LinkKind} == {
        LinkKind.ENDPOINT: Author.ENDPOINT,
        LinkKind.RULES: Author.BOT,
        LinkKind.AI: Author.AI,
        LinkKind.INBOX: Author.BOT,
    }


def test_automated_authors() -> None:
    assert {author for author in Author if author.is_automated} == {
        Author.BOT,
        Author.AI,
        Author.ENDPOINT,
    }


# Reply limits -------------------------------------------------------------------------------


def chips(count: int) -> tuple[QuickReply, ...]:
    return tuple(QuickReply(title=f"Option {n}", payload=f"OPT_{n}") for n in range(count))


def test_text_must_be_under_2000_characters() -> None:
    assert Reply(text="x" * 1999).text == "x" * 1999
    with pytest.raises(InvalidReply, match="under 2000"):
        Reply(text="x" * 2000)


def test_characters_are_code_points_not_bytes() -> None:
    assert Reply(text="é" * 1999).text is not None  # 3998 bytes of UTF-8


@pytest.mark.parametrize("text", ["", "   \n"])
def test_text_must_say_something(text: str) -> None:
    with pytest.raises(InvalidReply, match="empty"):
        Reply(text=text)


def test_at_most_13_quick_replies() -> None:
    assert len(Reply(text="Which size?", quick_replies=chips(13)).quick_replies) == 13
    with pytest.raises(InvalidReply, match="at most 13"):
        Reply(text="Which size?", quick_replies=chips(14))


def test_quick_reply_title_at_most_20() -> None:
    assert QuickReply(title="t" * 20, payload="P").title == "t" * 20
    with pytest.raises(InvalidReply, match="title is over 20"):
        QuickReply(title="t" * 21, payload="P")


def test_quick_reply_payload_at_most_1000() -> None:
    assert len(QuickReply(title="Yes", payload="p" * 1000).payload) == 1000
    with pytest.raises(InvalidReply, match="payload is over 1000"):
        QuickReply(title="Yes", payload="p" * 1001)


def test_quick_reply_needs_title_and_payload_unless_it_has_an_image() -> None:
    with pytest.raises(InvalidReply, match="needs a title"):
        QuickReply(payload="P")
    with pytest.raises(InvalidReply, match="needs a payload"):
        QuickReply(title="Yes")
    assert QuickReply(image_url="https://files.example.com/red.png").title == ""


def test_email_and_phone_chips_take_no_title() -> None:
    assert QuickReply(content_type="user_email").payload == ""
    with pytest.raises(InvalidReply, match="user_phone_number quick reply"):
        QuickReply(title="Phone", content_type="user_phone_number")


def test_metadata_must_be_under_1000_characters() -> None:
    assert Reply(text="Hi", metadata="m" * 999).metadata == "m" * 999
    with pytest.raises(InvalidReply, match="metadata"):
        Reply(text="Hi", metadata="m" * 1000)


def test_exactly_one_body() -> None:
    image = Attachment("image", url="https://files.example.com/a.jpg")
    with pytest.raises(InvalidReply, match="exactly one"):
        Reply()
    with pytest.raises(InvalidReply, match="exactly one"):
        Reply(text="Look", attachment=image)
    assert Reply(attachment=image, quick_replies=chips(2)).attachment == image


def test_attachment_by_url_or_id_not_both() -> None:
    assert Attachment("file", attachment_id="1857777774821032").url is None
    with pytest.raises(InvalidReply, match="exactly one of url"):
        Attachment("image")
    with pytest.raises(InvalidReply, match="exactly one of url"):
        Attachment("image", url="https://files.example.com/a.jpg", attachment_id="1")
    with pytest.raises(InvalidReply, match="empty"):
        Attachment("image", url="")


def button(title: str = "Track", payload: str = "TRACK") -> dict[str, object]:
    return {"type": "postback", "title": title, "payload": payload}


def button_template(text: str = "Your order?", count: int = 1) -> dict[str, object]:
    return {"template_type": "button", "text": text, "buttons": [button()] * count}


def card(title: str = "Red shirt", **extra: object) -> dict[str, object]:
    return {"title": title, "subtitle": "Cotton", "buttons": [button()], **extra}


def test_button_template_limits() -> None:
    assert Reply(template=button_template(text="t" * 640, count=3)).template is not None
    with pytest.raises(InvalidReply, match="over 640"):
        Reply(template=button_template(text="t" * 641))
    with pytest.raises(InvalidReply, match="1 to 3 buttons"):
        Reply(template=button_template(count=4))
    with pytest.raises(InvalidReply, match="1 to 3 buttons"):
        Reply(template=button_template(count=0))
    with pytest.raises(InvalidReply, match="needs text"):
        Reply(template={"template_type": "button", "buttons": [button()]})


def test_button_title_and_payload_limits() -> None:
    long_title = {**button_template(), "buttons": [button(title="t" * 21)]}
    with pytest.raises(InvalidReply, match="button title is over 20"):
        Reply(template=long_title)
    long_payload = {**button_template(), "buttons": [button(payload="p" * 1001)]}
    with pytest.raises(InvalidReply, match="button payload is over 1000"):
        Reply(template=long_payload)


def test_generic_template_limits() -> None:
    ten = {"template_type": "generic", "elements": [card()] * 10}
    assert Reply(template=ten).template == ten
    with pytest.raises(InvalidReply, match="at most 10"):
        Reply(template={"template_type": "generic", "elements": [card()] * 11})
    with pytest.raises(InvalidReply, match="needs elements"):
        Reply(template={"template_type": "generic", "elements": []})
    assert Reply(template={"template_type": "generic", "elements": [card("t" * 80)]}).template
    with pytest.raises(InvalidReply, match="title is over 80"):
        Reply(template={"template_type": "generic", "elements": [card("t" * 81)]})
    with pytest.raises(InvalidReply, match="subtitle is over 80"):
        Reply(template={"template_type": "generic", "elements": [card(subtitle="s" * 81)]})
    with pytest.raises(InvalidReply, match="card needs a title"):
        Reply(template={"template_type": "generic", "elements": [card("")]})
    four_buttons = card(buttons=[button()] * 4)
    with pytest.raises(InvalidReply, match="0 to 3 buttons"):
        Reply(template={"template_type": "generic", "elements": [four_buttons]})


def test_media_template_has_one_element() -> None:
    video = {"media_type": "video", "attachment_id": "1857777774821032"}
    assert Reply(template={"template_type": "media", "elements": [video]}).template
    with pytest.raises(InvalidReply, match="at most 1 element"):
        Reply(template={"template_type": "media", "elements": [video, video]})


def test_template_needs_a_type_and_other_types_pass() -> None:
    with pytest.raises(InvalidReply, match="template_type"):
        Reply(template={"text": "Hi"})
    receipt = {"template_type": "receipt", "order_number": "A-1"}
    assert Reply(template=receipt).template == receipt


def test_invalid_reply_is_a_value_error() -> None:
    assert issubclass(InvalidReply, ValueError)


# Contact and handoff request ----------------------------------------------------------------


def test_unknown_contact_shows_the_last_four_psid_digits() -> None:
    assert Contact("7301234567891234").display_name == "Messenger user \u00b71234"
    assert fallback_name("7301234567891234") == "Messenger user \u00b71234"


def test_known_names_win_and_blank_ones_do_not_count() -> None:
    assert Contact("7301234567891234", name="Ada Lovelace").display_name == "Ada Lovelace"
    assert Contact("7301234567891234", first_name="Ada").display_name == "Ada"
    assert Contact("7301234567891234", name="  ").display_name == "Messenger user \u00b71234"


def test_short_psid_and_missing_psid() -> None:
    assert Contact("42").display_name == "Messenger user \u00b742"
    with pytest.raises(ValueError, match="PSID"):
        Contact("")


def test_handoff_request_needs_a_reason() -> None:
    assert HandoffRequest("The AI was unsure").note is None
    with pytest.raises(ValueError, match="reason"):
        HandoffRequest(" ")
