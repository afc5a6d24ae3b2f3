"""Orders with their lines, as the ERP or a manager enters them; totals computed here."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, status
from sqlmodel import col, select

from app.models import Contact, Order, OrderCreate, OrderLine, OrderLinePublic, OrderPublic, Product
from app.money import line_totals
from server.deps import CurrentManager, CurrentUser, SessionDep
from server.scope import get_account_in_scope

router = APIRouter(prefix="/api/v1/orders", tags=["orders"])


def _public(order: Order, lines: list[OrderLine]) -> OrderPublic:
    return OrderPublic.model_validate(
        {**order.model_dump(), "lines": [OrderLinePublic.model_validate(line.model_dump()) for line in lines]}
    )


@router.post("", response_model=OrderPublic, status_code=status.HTTP_201_CREATED)
def create_order(body: OrderCreate, session: SessionDep, manager: CurrentManager) -> OrderPublic:
    if get_account_in_scope(session, manager, body.account_id) is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such account in your scope")
    if body.contact_id:
        contact = session.get(Contact, body.contact_id)
        if contact is None or contact.account_id != body.account_id:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "contact_id is not a contact of this account")
    if body.id and session.get(Order, body.id) is not None:
        raise HTTPException(status.HTTP_409_CONFLICT, f"order {body.id} already exists")
    for number, line in enumerate(body.lines, 1):
        if line.product_id and session.get(Product, line.product_id) is None:
            raise HTTPException(
                status.HTTP_422_UNPROCESSABLE_CONTENT, f"line {number}: unknown product_id {line.product_id}"
            )
    order = Order.model_validate(body.model_dump(exclude={"lines"}, exclude_none=True))
    lines = []
    for line in body.lines:
        totals = line_totals(
            quantity=line.quantity,
            unit_price_amount=line.unit_price_amount,
            discount_bp=line.discount_bp,
            tax_rate_bp=line.tax_rate_bp,
        )
        lines.append(
            OrderLine(
                **line.model_dump(),
                order_id=order.id,
                account_id=order.account_id,
                net_amount=totals.net_amount,
                tax_amount=totals.tax_amount,
            )
        )
    order.net_amount = sum(line.net_amount for line in lines)
    order.tax_amount = sum(line.tax_amount for line in lines)
    order.gross_amount = order.net_amount + order.tax_amount
    session.add(order)
    session.flush()
    session.add_all(lines)
    session.commit()
    return _public(order, lines)


@router.get("/{order_id}", response_model=OrderPublic)
def read_order(order_id: str, session: SessionDep, user: CurrentUser) -> OrderPublic:
    order = session.get(Order, order_id)
    if order is None or get_account_in_scope(session, user, order.account_id) is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such order in your scope")
    lines = session.exec(select(OrderLine).where(OrderLine.order_id == order.id).order_by(col(OrderLine.id))).all()
    return _public(order, list(lines))
