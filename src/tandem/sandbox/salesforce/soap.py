"""The SOAP partner calls the sandbox answers (``POST /services/Soap/u/NN.N[/orgId]``).

``login``: simple-salesforce uses it when a security token is given. It reads the
un-prefixed ``<sessionId>`` and ``<serverUrl>`` elements of the answer, and
``<sf:exceptionCode>`` / ``<sf:exceptionMessage>`` of a fault (with the ``sf`` prefix spelled
exactly so).

``merge``: the only API call that merges records (REST has none). Its ``MergeRequest``s
(up to 200) each name a ``masterRecord`` (an sObject: ``type`` or ``xsi:type``, ``Id`` and
the field values it takes) and one or two ``recordToMergeIds``; the session travels in the
``SessionHeader``. Field values arrive as XML text (``xsi:nil="true"`` for null).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from xml.sax.saxutils import escape

from tandem.sandbox.salesforce.merge import MergeResult

__all__ = [
    "MAX_MERGE_REQUESTS",
    "MergeRequest",
    "SoapFault",
    "login_response",
    "merge_response",
    "operation",
    "parse_login",
    "parse_merge",
    "session_id",
]

_ENVELOPE_NS = "http://schemas.xmlsoap.org/soap/envelope/"
_XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
_SOBJECT_META = {"type", "Id", "fieldsToNull"}

MAX_MERGE_REQUESTS = 200
"""Merge requests one ``merge`` call may carry."""


class SoapFault(Exception):
    """A SOAP fault answered with HTTP 500.

    Attributes:
        code: the ``sf:exceptionCode``, e.g. ``INVALID_LOGIN``.
        message: the ``sf:exceptionMessage``.
        fault_type: the detail element name (``LoginFault`` or ``UnexpectedErrorFault``).
    """

    def __init__(self, code: str, message: str, fault_type: str = "UnexpectedErrorFault") -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.fault_type = fault_type

    def to_xml(self) -> str:
        """The fault envelope."""
        code, message = escape(self.code), escape(self.message)
        return (
            '<?xml version="1.0" encoding="UTF-8"?>'
            f'<soapenv:Envelope xmlns:soapenv="{_ENVELOPE_NS}" '
            'xmlns:sf="urn:fault.partner.soap.sforce.com" '
            'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
            "<soapenv:Body><soapenv:Fault>"
            f"<faultcode>sf:{code}</faultcode>"
            f"<faultstring>{code}: {message}</faultstring>"
            f'<detail><sf:{self.fault_type} xsi:type="sf:{self.fault_type}">'
            f"<sf:exceptionCode>{code}</sf:exceptionCode>"
            f"<sf:exceptionMessage>{message}</sf:exceptionMessage>"
            f"</sf:{self.fault_type}></detail>"
            "</soapenv:Fault></soapenv:Body></soapenv:Envelope>"
        )


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def parse_login(body: bytes) -> tuple[str, str]:
    """Extract the username and password of a partner ``login`` request.

    Args:
        body: the raw request body.

    Returns:
        ``(username, password)``; the password may carry the security token.

    Raises:
        SoapFault: the body is not a SOAP ``login`` call.
    """
    try:
        root = ET.fromstring(body)
    except ET.ParseError as exc:
        raise SoapFault("INVALID_XML", f"Unable to parse the request: {exc}") from exc
    login = next((el for el in root.iter() if _local(el.tag) == "login"), None)
    if login is None:
        raise SoapFault("UNKNOWN_EXCEPTION", "Only the partner login call is implemented")
    values = {_local(child.tag): child.text or "" for child in login}
    if "username" not in values or "password" not in values:
        raise SoapFault(
            "INVALID_LOGIN",
            "Invalid username, password, security token; or user locked out.",
            "LoginFault",
        )
    return values["username"], values["password"]


def login_response(
    *,
    session_id: str,
    server_url: str,
    metadata_server_url: str,
    user_id: str,
    org_id: str,
    username: str,
) -> str:
    """The partner ``loginResponse`` envelope.

    Args:
        session_id: the access token (usable as a REST bearer token).
        server_url: the partner API URL on the instance.
        metadata_server_url: the metadata API URL on the instance.
        user_id: the user's id.
        org_id: the organization id.
        username: the user's login.

    Returns:
        The XML text.
    """
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<soapenv:Envelope xmlns:soapenv="{_ENVELOPE_NS}" '
        'xmlns="urn:partner.soap.sforce.com" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
        "<soapenv:Body><loginResponse><result>"
        f"<metadataServerUrl>{escape(metadata_server_url)}</metadataServerUrl>"
        "<passwordExpired>false</passwordExpired>"
        "<sandbox>true</sandbox>"
        f"<serverUrl>{escape(server_url)}</serverUrl>"
        f"<sessionId>{escape(session_id)}</sessionId>"
        f"<userId>{escape(user_id)}</userId>"
        "<userInfo>"
        f"<organizationId>{escape(org_id)}</organizationId>"
        "<organizationName>Tandem Sandbox</organizationName>"
        f"<userEmail>{escape(username)}</userEmail>"
        f"<userId>{escape(user_id)}</userId>"
        f"<userName>{escape(username)}</userName>"
        "</userInfo>"
        "</result></loginResponse></soapenv:Body></soapenv:Envelope>"
    )


def _root(body: bytes) -> ET.Element:
    try:
        return ET.fromstring(body)
    except ET.ParseError as exc:
        raise SoapFault("INVALID_XML", f"Unable to parse the request: {exc}") from exc


def _body_call(root: ET.Element) -> ET.Element | None:
    body = next((el for el in root if _local(el.tag) == "Body"), None)
    return next(iter(body), None) if body is not None else None


def operation(body: bytes) -> str:
    """The name of the call in a SOAP request's body (``login``, ``merge``, ...).

    Raises:
        SoapFault: the body is not a SOAP envelope holding a call.
    """
    call = _body_call(_root(body))
    if call is None:
        raise SoapFault("INVALID_XML", "The request holds no call")
    return _local(call.tag)


def session_id(body: bytes) -> str | None:
    """The ``sessionId`` of the request's ``SessionHeader``, if any."""
    root = _root(body)
    header = next((el for el in root if _local(el.tag) == "Header"), None)
    if header is None:
        return None
    found = next((el for el in header.iter() if _local(el.tag) == "sessionId"), None)
    return (found.text or "").strip() if found is not None else None


@dataclass(frozen=True)
class MergeRequest:
    """One ``MergeRequest``: the object, the master's Id and values, the losers' Ids."""

    sobject: str
    master_id: str
    values: dict[str, Any]
    loser_ids: list[str]


def parse_merge(body: bytes) -> list[MergeRequest]:
    """The ``MergeRequest``s of a ``merge`` call.

    Raises:
        SoapFault: not a ``merge`` call, too many requests, or a master without type or Id.
    """
    call = _body_call(_root(body))
    if call is None or _local(call.tag) != "merge":
        raise SoapFault("INVALID_XML", "The request is not a merge call")
    requests = [el for el in call if _local(el.tag) == "request"]
    if len(requests) > MAX_MERGE_REQUESTS:
        raise SoapFault(
            "LIMIT_EXCEEDED", f"Up to {MAX_MERGE_REQUESTS} merge requests can be made in one call"
        )
    return [_merge_request(el) for el in requests]


def _merge_request(request: ET.Element) -> MergeRequest:
    master = next((el for el in request if _local(el.tag) == "masterRecord"), None)
    if master is None:
        raise SoapFault("INVALID_XML", "A MergeRequest needs a masterRecord")
    fields = {_local(el.tag): el for el in master}
    sobject = (fields["type"].text or "").strip() if "type" in fields else ""
    if not sobject:  # the enterprise WSDL types the element itself: xsi:type="ens:Account"
        sobject = master.get(f"{{{_XSI_NS}}}type", "").rpartition(":")[2]
    master_id = (fields["Id"].text or "").strip() if "Id" in fields else ""
    if not sobject or not master_id:
        raise SoapFault("INVALID_XML", "A masterRecord needs its type and Id")
    values: dict[str, Any] = {}
    for el in master:
        name = _local(el.tag)
        if name == "fieldsToNull":
            values[(el.text or "").strip()] = None
        elif name not in _SOBJECT_META:
            nil = el.get(f"{{{_XSI_NS}}}nil") == "true"
            values[name] = None if nil else (el.text or "")
    losers = [(el.text or "").strip() for el in request if _local(el.tag) == "recordToMergeIds"]
    return MergeRequest(sobject, master_id, values, losers)


def merge_response(results: Sequence[MergeResult]) -> str:
    """The partner ``mergeResponse`` envelope: one ``result`` per request, in order."""
    parts: list[str] = []
    for result in results:
        items = [
            f"<errors><message>{escape(message)}</message>"
            f"<statusCode>{escape(code)}</statusCode></errors>"
            for code, message in result.errors
        ]
        items.append(
            f"<id>{escape(result.master_id)}</id>" if result.master_id else '<id xsi:nil="true"/>'
        )
        items += [f"<mergedRecordIds>{escape(i)}</mergedRecordIds>" for i in result.merged_ids]
        items.append(f"<success>{'true' if result.success else 'false'}</success>")
        items += [f"<updatedRelatedIds>{escape(i)}</updatedRelatedIds>" for i in result.related_ids]
        parts.append("<result>" + "".join(items) + "</result>")
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<soapenv:Envelope xmlns:soapenv="{_ENVELOPE_NS}" '
        'xmlns="urn:partner.soap.sforce.com" '
        f'xmlns:xsi="{_XSI_NS}">'
        "<soapenv:Body><mergeResponse>" + "".join(parts) + "</mergeResponse>"
        "</soapenv:Body></soapenv:Envelope>"
    )
