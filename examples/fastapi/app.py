"""The web side of the FastAPI example: a sign-up endpoint whose helpers,
several calls deep, fire an email task and an analytics task into fling.

    FLING_PRODUCER_ENDPOINT=tcp://127.0.0.1:5555 uvicorn app:app --port 8000
    curl -X POST localhost:8000/signup -H 'content-type: application/json' \
         -d '{"email": "ada@example.com"}'

fling.lifespan() gives the app one Producer for its whole life (the default
producer of the process, so fling.send() works from any helper; also
app.state.fling) and, at shutdown, waits for the broker to accept what was
sent. The request never waits for the broker, the email or the analytics:
fling.send() returns in microseconds, even while the broker is down.
"""
from fastapi import FastAPI
from pydantic import BaseModel

import accounts
import fling

app = FastAPI(title="fling FastAPI example", lifespan=fling.lifespan())


class SignUp(BaseModel):
    email: str
    plan: str = "free"


@app.post("/signup")
async def signup(body: SignUp) -> dict:
    user, task_ids = accounts.register(body.email, body.plan)
    return {"user": user, "tasks": task_ids}


@app.get("/health")
async def health() -> dict:
    """The producer's counters: what it queued, what the broker accepted."""
    return {"fling": app.state.fling.stats()._asdict(), "connected": app.state.fling.connected}
