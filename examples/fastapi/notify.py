"""Where the example's follow-up work leaves the process: each helper fires
one fling task and returns its id. They are plain functions, callable from
a request, a thread or a script alike."""
import fling


def welcome_email(user: dict) -> str:
    return fling.send("email.welcome", {"user": user["id"], "to": user["email"],
                                        "plan": user["plan"]})


def track(event: str, user: dict) -> str:
    return fling.send("analytics.event", {"event": event, "user": user["id"],
                                          "plan": user["plan"]})
