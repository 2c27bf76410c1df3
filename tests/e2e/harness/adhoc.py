"""XEP-0050 ad-hoc commands as a client runs them: the <command/> payload with its form, and
reading the answer (shared by the operator's and the users' command tests)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from harness.client import NS_DATA, dump, error_condition

NS_COMMANDS = "http://jabber.org/protocol/commands"


def command_xml(node: str, action: str | None = None, sessionid: str | None = None, fields: dict | None = None) -> str:
    attrs = f"xmlns='{NS_COMMANDS}' node='{node}'"
    if action:
        attrs += f" action='{action}'"
    if sessionid:
        attrs += f" sessionid='{sessionid}'"
    if fields is None:
        return f"<command {attrs}/>"

    def esc(s: str) -> str:
        return s.replace("&", "&amp;").replace("<", "&lt;").replace("'", "&apos;")

    body = "".join(
        f"<field var='{esc(k)}'>" + "".join(f"<value>{esc(x)}</value>" for x in (v if isinstance(v, list) else [v])) + "</field>"
        for k, v in fields.items()
    )
    return f"<command {attrs}><x xmlns='{NS_DATA}' type='submit'>{body}</x></command>"


def command_of(reply: ET.Element) -> ET.Element:
    assert reply.get("type") == "result", f"command failed ({error_condition(reply)}): {dump(reply)}"
    cmd = reply.find(f"{{{NS_COMMANDS}}}command")
    assert cmd is not None, dump(reply)
    return cmd


def field_vars(cmd: ET.Element) -> list[str]:
    form = cmd.find(f"{{{NS_DATA}}}x")
    return [] if form is None else [f.get("var") for f in form.findall(f"{{{NS_DATA}}}field")]
