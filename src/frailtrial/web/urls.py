"""URL routes of the pages and the API (every view is wrapped by an explicit permission)."""

from __future__ import annotations

from django.shortcuts import redirect
from django.urls import URLPattern, URLResolver, include, path

from frailtrial.web import static_files
from frailtrial.web.api import api
from frailtrial.web.views import (
    auth,
    corrections,
    epro,
    logs,
    oversight,
    participants,
    people,
    pharmacy,
    printing,
    safety,
    screening,
)

PUBLIC = {"login", "logout", "choose", "static", "home", "invitation"}

web_patterns: list[URLPattern | URLResolver] = [
    path("", lambda request: redirect("web:dashboard"), name="home"),
    path("login/", auth.login_view, name="login"),
    path("logout/", auth.logout_view, name="logout"),
    path("choose/", auth.choose_view, name="choose"),
    path("account/", auth.account_view, name="account"),
    path("dashboard/", oversight.dashboard, name="dashboard"),
    path("screening/", screening.screening_log, name="screening"),
    path("screening/new/", screening.screen_new, name="screen_new"),
    path("screening/check/", screening.screen_check, name="screen_check"),
    path("screening/<str:screening_id>/", screening.screening_detail, name="screening_detail"),
    path("screening/<str:screening_id>/randomize/", screening.randomize, name="randomize"),
    path("participants/", participants.participant_list, name="participants"),
    path("calendar/", participants.visit_calendar, name="calendar"),
    path("print/forms/", printing.blank_index, name="blank_crfs"),
    path("print/forms/<str:visit>/<str:instrument>/", printing.blank_crf, name="blank_crf"),
    path("participants/<str:pid>/casebook/", printing.casebook, name="casebook"),
    path("participants/<str:pid>/", participants.participant_page, name="participant"),
    path("participants/<str:pid>/ae/", participants.ae_new, name="ae_new"),
    path("participants/<str:pid>/unblind/", participants.emergency_unblind, name="unblind"),
    path("participants/<str:pid>/sign/", people.sign_page, name="sign"),
    path(
        "participants/<str:pid>/visits/<str:visit>/crf/<str:instrument>/",
        participants.crf_page,
        name="crf",
    ),
    path("participants/<str:pid>/log/<str:form>/", logs.log_page, name="log"),
    path("participants/<str:pid>/log/<str:form>/<int:entry_id>/", logs.log_entry, name="log_entry"),
    path("participants/<str:pid>/visits/<str:visit>/epro/", epro.start, name="epro_start"),
    path("safety/", oversight.safety_list, name="safety"),
    path("safety/ae/<int:ae_id>/", safety.ae_report, name="ae_report"),
    path("safety/ae/<int:ae_id>/follow-up/", safety.ae_follow_up, name="ae_follow_up"),
    path("safety/ae/<int:ae_id>/assess/", safety.ae_assess, name="ae_assess"),
    path("safety/ae/<int:ae_id>/acknowledge/", safety.sae_acknowledge, name="sae_acknowledge"),
    path("safety/ae/<int:ae_id>/void/", safety.ae_void, name="ae_void"),
    path("queries/", oversight.query_list, name="queries"),
    path("queries/raise/<int:crf_id>/", oversight.query_raise, name="query_raise"),
    path("queries/<int:query_id>/answer/", oversight.query_answer, name="query_answer"),
    path("queries/<int:query_id>/close/", oversight.query_close, name="query_close"),
    path("sdv/", oversight.sdv_overview, name="sdv_overview"),
    path("sdv/<int:crf_id>/", oversight.sdv_mark, name="sdv"),
    path("audit/<str:model>/<str:object_id>/", oversight.audit_trail, name="audit"),
    path("correct/<str:record>/<int:record_id>/", corrections.correct, name="correct"),
    path("pharmacy/", pharmacy.pharmacy, name="pharmacy"),
    path("dsmb/", oversight.dsmb_report, name="dsmb"),
    path("lock/", oversight.lock_page, name="lock"),
    path("exports/", oversight.exports_page, name="exports"),
    path("people/", people.people_page, name="people"),
    path("invite/<str:token>/", people.invitation_page, name="invitation"),
    path("static/<str:package>/<path:name>", static_files.serve, name="static"),
]

# Participant (ePRO) pages: no login, reached only through a redeemed session token; each
# view checks its live session (frailtrial.web.views.epro.participant_page).
epro_patterns: list[URLPattern | URLResolver] = [
    path("", epro.home, name="home"),
    path("start/<str:token>/", epro.redeem, name="redeem"),
    path("language/", epro.language, name="language"),
    path("end/", epro.finish, name="end"),
    path("done/", epro.done, name="done"),
    path("q/<str:instrument>/", epro.resume, name="resume"),
    path("q/<str:instrument>/<int:n>/", epro.question, name="question"),
    path("q/<str:instrument>/review/", epro.review, name="review"),
]

urlpatterns: list[URLPattern | URLResolver] = [
    path("", include((web_patterns, "web"), namespace="web")),
    path("p/", include((epro_patterns, "epro"), namespace="epro")),
    # each user picks the interface language: a cookie read by LocaleMiddleware, and kept on
    # the account of a logged-in user (applied at login); public (the login page has it)
    path("language/", auth.language_view, name="set_language"),
    path("api/", api.urls),
]
