"""Business logic of the example, free of any web framework: register()
makes an account, and the follow-up work (a welcome email, an analytics
event) goes to fling from deep in the call stack, through fling.send() and
the producer fling.lifespan() set up. No producer is passed down."""
import itertools
import time
from typing import List, Tuple

import notify

_ids = itertools.count(1)


def register(email: str, plan: str) -> Tuple[dict, List[str]]:
    user = {"id": next(_ids), "email": email.strip().lower(), "plan": plan,
            "created": time.time()}
    # ... store the user in a database here ...
    return user, after_signup(user)


def after_signup(user: dict) -> List[str]:
    return [notify.welcome_email(user), notify.track("signup", user)]
