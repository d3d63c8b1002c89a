"""The whole onboarding and chat loop, end to end, against the digest's documented shapes."""

from __future__ import annotations

import httpx

from frontdesk.emulator import Emulator, psid_for

from .conftest import APP_ID, JOAO, PAGE, Receiver, connect, say, send


async def test_connect_receive_reply_and_see_the_echo(
    emulator: Emulator, graph: httpx.AsyncClient, receiver: Receiver
) -> None:
    token = await connect(graph)
    assert receiver.verifications[0]["hub.mode"] == "subscribe"

    said = await say(graph, "Olá! Do you ship to Lisbon?")
    await emulator.meta.drain()
    psid = psid_for(PAGE, JOAO)
    [message] = receiver.of_kind("message")
    assert message["sender"] == {"id": psid}
    assert message["recipient"] == {"id": PAGE}
    assert message["message"] == {"mid": said["mid"], "text": "Olá! Do you ship to Lisbon?"}
    assert all(post["valid"] for post in receiver.posts)

    reply = await send(
        graph,
        token,
        {
            "recipient": {"id": psid},
            "messaging_type": "RESPONSE",
            "message": {"text": "Yes, 2-3 days.", "metadata": "fd:1"},
        },
    )
    assert reply.status_code == 200, reply.text
    assert set(reply.json()) == {"recipient_id", "message_id"}
    await emulator.meta.drain()

    echo = [e for e in receiver.of_kind("message") if e["message"].get("is_echo")]
    assert echo[0]["message"]["app_id"] == int(APP_ID)
    assert echo[0]["message"]["metadata"] == "fd:1"
    assert echo[0]["sender"] == {"id": PAGE}
    [delivery] = receiver.of_kind("delivery")
    assert delivery["delivery"]["mids"] == [reply.json()["message_id"]]

    transcript = await graph.get("/_emulator/conversation", params={"page_id": PAGE, "psid": psid})
    texts = [m["text"] for m in transcript.json()["messages"]]
    assert texts == ["Olá! Do you ship to Lisbon?", "Yes, 2-3 days."]
