"""Counters: the operator's buttons (next, recall, start, finish, no-show, transfer, postpone,
pause, resume, sign-in, sign-out, rate), the counter's state and its waiting list.

Every action needs a staff bearer token; the token's account is the operator in the event log.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Path
from fastapi.responses import Response

from cherga.broker_bridge.contract import CounterAction, CounterState, TicketInfo
from cherga.server.api.deps import IdemDep, MaybeStaffDep, ServiceDep, StaffDep
from cherga.server.api.models import (
    ActionRequest,
    ActionResponse,
    ErrorResponse,
    FinishRequest,
    PauseRequest,
    PostponeRequest,
    RateRequest,
    TransferRequest,
)
from cherga.server.service import ActionResult, OfficeService
from cherga.server.store import StaffAccount

router = APIRouter(tags=["counters"])

CounterId = Annotated[str, Path(max_length=40, description="counter id from the site configuration")]
_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorResponse, "description": "no or an expired bearer token"},
    404: {"model": ErrorResponse, "description": "unknown office, counter or service"},
    409: {"model": ErrorResponse, "description": "the action does not fit the counter's state (reason key)"},
    422: {"model": ErrorResponse, "description": "bad input: the field and the reason"},
}


def _respond(result: ActionResult) -> Response:
    message = "nobody is waiting for this counter" if result.status == "empty" else None
    body = ActionResponse.model_construct(status=result.status, message=message, counter=result.counter,
                                          ticket=result.ticket, hall_call=result.hall_call)
    # Serialised once, straight from the models the service built (no second validation).
    return Response(body.model_dump_json(), media_type="application/json")


def _act(svc: OfficeService, account: StaffAccount, counter: str, action: CounterAction, body: ActionRequest | None,
         key: str | None, **fields: Any) -> Response:
    command_id = (body.command_id if body else None) or key or f"rest:{uuid.uuid4().hex}"
    return _respond(svc.counter_action(command_id=command_id, counter=counter, action=action,
                                       source=f"rest:{account.username}", operator=account.username,
                                       authenticated=True, **fields))


@router.get("/offices/{office}/counters/{counter}", response_model=CounterState, responses=_ERRORS,
            summary="What a counter is doing (to a caller without a staff token: what the hall may see)")
def counter_state(counter: CounterId, svc: ServiceDep, account: MaybeStaffDep) -> CounterState:
    state = svc.counter_state(counter)
    return state if account is not None else public_counter_state(state)


def public_counter_state(state: CounterState) -> CounterState:
    """``state`` as anyone on the hall network may read it: the number called and the operator's shown
    name, but not the citizen's ticket link (whoever holds it may rate the visit or leave a contact),
    the scheduler's reasons, or the operator's sign-in name (half of a password guess)."""
    ticket = state.ticket
    if ticket is not None:
        ticket = ticket.model_copy(update={"token": None, "status_url": None, "reason": None, "why": None})
    return state.model_copy(update={"ticket": ticket, "operator": None})


@router.get("/offices/{office}/counters/{counter}/waiting", response_model=list[TicketInfo], responses=_ERRORS,
            summary="Tickets this counter could call, best first, with the scheduler's reason")
def waiting_list(counter: CounterId, svc: ServiceDep, account: StaffDep) -> list[TicketInfo]:
    return svc.waiting_list(counter)


def _simple(action: CounterAction, path: str, summary: str) -> Callable[..., Response]:
    def endpoint(counter: CounterId, svc: ServiceDep, account: StaffDep, key: IdemDep,
                 body: ActionRequest | None = None) -> Response:
        return _act(svc, account, counter, action, body, key)

    endpoint.__name__ = f"counter_{action.value}"
    router.post(f"/offices/{{office}}/counters/{{counter}}/{path}", response_model=None, responses={200: {"model": ActionResponse}, **_ERRORS},
                summary=summary)(endpoint)
    return endpoint


_simple(CounterAction.NEXT, "next", "Call the next ticket (finishes the current one); status 'empty' when nobody waits")
_simple(CounterAction.RECALL, "recall", "Call the current ticket again (after the last allowed recall: no-show)")
_simple(CounterAction.START, "start", "The visitor has arrived: start serving")
_simple(CounterAction.NO_SHOW, "no-show", "The called visitor did not come")
_simple(CounterAction.RESUME, "resume", "End a pause")
_simple(CounterAction.SIGN_IN, "sign-in", "Sign the token's operator in at this counter")
_simple(CounterAction.SIGN_OUT, "sign-out", "Sign the operator out (the counter closes)")


@router.post("/offices/{office}/counters/{counter}/finish", response_model=None, responses={200: {"model": ActionResponse}, **_ERRORS},
             summary="Finish the visit")
def counter_finish(counter: CounterId, svc: ServiceDep, account: StaffDep, key: IdemDep,
                   body: FinishRequest | None = None) -> Response:
    return _act(svc, account, counter, CounterAction.FINISH, body, key, result=body.result if body else None)


@router.post("/offices/{office}/counters/{counter}/transfer", response_model=None, responses={200: {"model": ActionResponse}, **_ERRORS},
             summary="Send the visitor to another service or counter (optionally back here afterwards)")
def counter_transfer(counter: CounterId, body: TransferRequest, svc: ServiceDep, account: StaffDep,
                     key: IdemDep) -> Response:
    return _act(svc, account, counter, CounterAction.TRANSFER, body, key, to_service=body.to_service,
                to_counter=body.to_counter, return_after=body.return_after)


@router.post("/offices/{office}/counters/{counter}/postpone", response_model=None, responses={200: {"model": ActionResponse}, **_ERRORS},
             summary="Send the visitor away for a while; they keep their place at this counter")
def counter_postpone(counter: CounterId, svc: ServiceDep, account: StaffDep, key: IdemDep,
                     body: PostponeRequest | None = None) -> Response:
    return _act(svc, account, counter, CounterAction.POSTPONE, body, key, delay_s=body.delay_s if body else None)


@router.post("/offices/{office}/counters/{counter}/pause", response_model=None, responses={200: {"model": ActionResponse}, **_ERRORS},
             summary="Pause the counter (with a reason)")
def counter_pause(counter: CounterId, svc: ServiceDep, account: StaffDep, key: IdemDep,
                  body: PauseRequest | None = None) -> Response:
    return _act(svc, account, counter, CounterAction.PAUSE, body, key, pause_reason=body.reason if body else None)


@router.post("/offices/{office}/counters/{counter}/rate", response_model=None, responses={200: {"model": ActionResponse}, **_ERRORS},
             summary="The visitor's rating of the visit just finished")
def counter_rate(counter: CounterId, body: RateRequest, svc: ServiceDep, account: StaffDep,
                 key: IdemDep) -> Response:
    return _act(svc, account, counter, CounterAction.RATE, body, key, score=body.score, ticket_id=body.ticket_id)
