"""Acting for others, on the account pages (blueprint ``orgs``, under ``/account/acting-for``).

- the organisations whose legal representative the citizen is, with "Activate";
- the organisations the citizen belongs to, with their roles; administrators manage members
  (add by national identifier with roles, change roles, remove, hand administration over) and
  see what changed and who signed in for the organisation;
- the children the citizen is parent or guardian of.
"""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from idp.auth.sessions import current_session
from idp.citizens.models import Citizen
from idp.db import db
from idp.orgs import members, relations
from idp.orgs.models import Membership, Organisation

bp = Blueprint("orgs", __name__, url_prefix="/account/acting-for")

PROBLEMS = {
    "not_representative": _l("Only the organisation's legal representative, as the registry names them, "
                             "can activate it."),
    "level": _l("Activating an organisation needs a verified (level 2) account."),
    "already_active": _l("The organisation is already activated."),
    "dissolved": _l("The registry lists this organisation as dissolved."),
    "inactive": _l("The organisation's account is not active."),
    "no_role": _l("Give at least one role."),
    "too_many_roles": _l("Give at most 10 roles."),
    "bad_role": _l("Role names use lower-case letters, digits, dots, dashes and underscores (at most 32)."),
    "no_account": _l("Nobody with this identification number has an account."),
    "already_member": _l("This person is already a member."),
    "last_admin": _l("The organisation must keep an administrator."),
    "same_member": _l("Choose another member."),
}


def _problem(problem: members.MembershipProblem) -> str:
    return str(PROBLEMS.get(problem.code, problem))


@bp.before_request
def _require_session():
    sso = current_session()
    if sso is None:
        return redirect(url_for("auth.login", next=request.path), 303)
    g.sso = sso
    g.citizen = db.session.get(Citizen, sso.citizen_id)
    return None


@bp.get("")
def overview():
    return render_template(
        "orgs/overview.html", represented=members.represented_by(g.citizen.id),
        memberships=members.memberships_of(g.citizen.id), children=relations.children_of(g.citizen.id))


@bp.post("/organisations/<int:organisation_id>/activate")
def activate(organisation_id: int):
    organisation = db.session.get(Organisation, organisation_id)
    if organisation is None:
        abort(404)
    try:
        members.activate(organisation, g.citizen)
    except members.MembershipProblem as problem:
        db.session.rollback()
        flash(_problem(problem), "error")
        return overview(), 403
    db.session.commit()
    flash(gettext("%(name)s is activated. You are its administrator.", name=organisation.name), "success")
    return redirect(url_for("orgs.manage", organisation_id=organisation.id), 303)


def _administered(organisation_id: int) -> Organisation:
    """The organisation, if the signed-in citizen administers it (404 otherwise: nothing is said
    about organisations of others)."""
    organisation = db.session.get(Organisation, organisation_id)
    if organisation is None or not members.is_admin(organisation, g.citizen.id):
        abort(404)
    return organisation


def _member(organisation: Organisation, member_id: int) -> Membership:
    member = db.session.scalar(select(Membership).where(
        Membership.id == member_id, Membership.organisation_id == organisation.id))
    if member is None:
        abort(404)
    return member


def _names(ids) -> dict[int, str]:
    ids = {i for i in ids if i is not None}
    if not ids:
        return {}
    return dict(db.session.execute(select(Citizen.id, Citizen.full_name).where(Citizen.id.in_(ids))).all())


@bp.get("/organisations/<int:organisation_id>")
def manage(organisation_id: int, status: int = 200):
    organisation = _administered(organisation_id)
    events = members.events_of(organisation)
    names = _names([m.citizen_id for m in organisation.members]
                   + [e.actor_id for e in events] + [e.member_id for e in events])
    return render_template("orgs/manage.html", organisation=organisation, names=names, events=events,
                           me=g.citizen.id), status


@bp.post("/organisations/<int:organisation_id>/members")
def add_member(organisation_id: int):
    organisation = _administered(organisation_id)
    try:
        citizen = members.find_citizen(request.form.get("identifier", "")[:64], _scheme())
        members.add_member(organisation, citizen, request.form.get("roles", "employee")[:400],
                           actor_id=g.citizen.id)
    except members.MembershipProblem as problem:
        db.session.rollback()
        flash(_problem(problem), "error")
        return manage(organisation_id, status=422)
    db.session.commit()
    flash(gettext("%(name)s was added.", name=citizen.full_name), "success")
    return redirect(url_for("orgs.manage", organisation_id=organisation.id), 303)


@bp.post("/organisations/<int:organisation_id>/members/<int:member_id>/roles")
def set_roles(organisation_id: int, member_id: int):
    organisation = _administered(organisation_id)
    member = _member(organisation, member_id)
    try:
        members.set_roles(organisation, member, request.form.get("roles", "")[:400], actor_id=g.citizen.id)
    except members.MembershipProblem as problem:
        db.session.rollback()
        flash(_problem(problem), "error")
        return manage(organisation_id, status=422)
    db.session.commit()
    flash(gettext("The roles were changed."), "success")
    return redirect(url_for("orgs.manage", organisation_id=organisation.id), 303)


@bp.post("/organisations/<int:organisation_id>/members/<int:member_id>/remove")
def remove_member(organisation_id: int, member_id: int):
    organisation = _administered(organisation_id)
    member = _member(organisation, member_id)
    try:
        members.remove_member(organisation, member, actor_id=g.citizen.id)
    except members.MembershipProblem as problem:
        db.session.rollback()
        flash(_problem(problem), "error")
        return manage(organisation_id, status=422)
    db.session.commit()
    flash(gettext("The member was removed. They can no longer act for the organisation."), "success")
    if not members.is_admin(organisation, g.citizen.id):
        return redirect(url_for("orgs.overview"), 303)
    return redirect(url_for("orgs.manage", organisation_id=organisation.id), 303)


@bp.post("/organisations/<int:organisation_id>/hand-over")
def hand_over(organisation_id: int):
    organisation = _administered(organisation_id)
    raw = request.form.get("member_id", "")
    if not (raw.isascii() and raw.isdigit() and len(raw) < 10):
        abort(404)
    target = _member(organisation, int(raw))
    try:
        members.hand_over(organisation, members.membership(organisation, g.citizen.id), target)
    except members.MembershipProblem as problem:
        db.session.rollback()
        flash(_problem(problem), "error")
        return manage(organisation_id, status=422)
    db.session.commit()
    flash(gettext("Administration was handed over."), "success")
    return redirect(url_for("orgs.overview"), 303)


def _scheme() -> str:
    return current_app.config["IDP"].identifier_scheme
