#!/usr/bin/env python3
"""A backend for the host's tests, written without the SDK (the host must not depend on
it): an echo network whose behaviour on cue is to crash, hang, flood or lie.

Usage: fake_backend.py [hello-mode]; hello-mode is `ok` (default), `silent`, `exit`,
`garbage`, `old` (another protocol version) or `refuse` (exits at the welcome, as a backend
refusing its options). A message's body picks what happens:
`crash`, `hang`, `flood N`, `lie`, `slow ...` (echoed half a millisecond later); anything
else is echoed back.
"""
import json
import os
import sys
import time

DESCRIPTOR = {
    "gateway_type": "echo",
    "registration_instructions": "Any name will do.",
    "registration_fields": [
        {"var": "username", "label": "Name", "kind": "text", "required": True},
        {"var": "password", "label": "Password", "kind": "password", "required": False},
        {"var": "colour", "label": "Colour", "kind": "text", "required": False},
    ],
    "prompt": "Enter a name.",
}


def say(message):
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def event(session, ev):
    say({"event": {"session": session, "event": ev}})


def main():
    mode = sys.argv[1] if len(sys.argv) > 1 else "ok"
    print(f"fake backend starting, pid {os.getpid()}", file=sys.stderr, flush=True)
    if mode == "silent":
        time.sleep(60)
        return
    if mode == "exit":
        return
    if mode == "garbage":
        sys.stdout.write("this is not json\n")
        sys.stdout.flush()
        time.sleep(60)
        return
    hello = {
        "protocol": 99 if mode == "old" else 1,
        "vocabulary": 2,
        "descriptor": DESCRIPTOR,
        "addresses": {"case": "ascii_lowercase", "room": "#.+", "occupant_contact": "{nick}"},
    }
    say({"hello": hello})
    for line in sys.stdin:
        msg = json.loads(line)
        if "welcome" in msg:
            if mode == "refuse":
                print("the option colour must be a colour", file=sys.stderr, flush=True)
                sys.exit(2)
            print("welcomed with " + json.dumps(msg["welcome"]["options"]), file=sys.stderr, flush=True)
        elif "ping" in msg:
            say({"pong": {"request": msg["ping"]["request"]}})
        elif "login" in msg:
            login = msg["login"]
            session = login["session"]
            event(session, "connected")
            event(session, {"notice": {"text": "logged in as " + login["account"]["legacy_id"] + " state " + str(login["state"])}})
            say({"save_state": {"session": session, "state": "seen " + login["account"]["legacy_id"]}})
        elif "command" in msg:
            c = msg["command"]
            session, seq, command = c["session"], c["seq"], c["command"]
            if isinstance(command, dict) and "send_message" in command:
                body = command["send_message"]["body"]
                to = command["send_message"]["to"]
                if body == "crash":
                    sys.exit(3)
                if body == "hang":
                    time.sleep(3600)
                if body.startswith("slow"):
                    time.sleep(0.0005)
                if body.startswith("flood"):
                    for i in range(int(body.split()[1])):
                        event(session, {"notice": {"text": f"flood {i}"}})
                elif body == "lie":
                    event(999999, {"notice": {"text": "for someone else"}})
                    say({"hello": {"protocol": 1}})
                    sys.stdout.write("garbage\n")
                    sys.stdout.write("[" * 100 + "]" * 100 + "\n")
                    sys.stdout.write('{"event": "' + "x" * 300_000 + '"}\n')
                    say({"save_state": {"session": session, "state": "y" * 70_000}})
                    event(session, {"message": {"from": to, "body": "lied"}})
                else:
                    event(session, {"message": {"from": to, "body": body}})
            elif isinstance(command, dict) and "join_room" in command:
                room = command["join_room"]["room"]
                event(session, {"room_joined": {"room": room, "nick": command["join_room"]["nick"], "occupants": []}})
            say({"done": {"session": session, "seq": seq}})
        elif "logout" in msg:
            print("logout " + str(msg["logout"]["session"]), file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
