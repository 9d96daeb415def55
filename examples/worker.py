#!/usr/bin/env python3
"""A worker for the `thumbnails` queue, in Python with the standard library only: the whole
HTTP worker protocol in one file (README, "Workers").

It long-polls `POST /workers/poll` for tasks, heartbeats while it works, and acks each with
`POST /tasks/{id}/complete` (or nacks with `/fail`). Its "work" names a thumbnail:
input {"image": "cat.png", "width": 128} -> output {"thumbnail": "cat-128.png"}.

    python3 examples/worker.py --api http://127.0.0.1:8080 --worker-id w1

For trying failure handling, an input with "behave": "flaky" is nacked (retryable) on its
first attempt, "broken" is nacked as not retryable; --hang-after N takes a task after N
completions and then never answers (kill it: the task goes back to the queue when its lease
lapses). Each event is printed as one JSON line.
"""
import argparse
import json
import os
import sys
import threading
import time
import urllib.error
import urllib.request


def call(api, path, body, token):
    request = urllib.request.Request(
        api.rstrip("/") + path,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    if token:
        request.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(request, timeout=90) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as refused:
        return refused.code, json.loads(refused.read() or b"{}")


def say(event, **fields):
    print(json.dumps({"event": event, **fields}), flush=True)


def work(task):
    """The output of a task, or (error, retryable) for a nack."""
    task_input = task["input"]
    behave = task_input.get("behave")
    if behave == "flaky" and task["attempt"] == 1:
        return None, ("flaky on its first attempt", True)
    if behave == "broken":
        return None, ("this input can never work", False)
    stem, _, ext = task_input["image"].rpartition(".")
    return {"thumbnail": f"{stem}-{task_input['width']}.{ext}"}, None


def heartbeat_while(stop, api, task, worker_id, lease, token):
    """Extends the lease at a third of its length until the task is reported."""
    while not stop.wait(lease / 3):
        status, _ = call(api, f"/tasks/{task['taskId']}/heartbeat",
                         {"workerId": worker_id, "lease": f"{lease}s"}, token)
        if status != 200:
            return


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--api", default="http://127.0.0.1:8080")
    parser.add_argument("--worker-id", default=f"py-{os.getpid()}")
    parser.add_argument("--queue", default="thumbnails")
    parser.add_argument("--lease", type=float, default=30.0, help="seconds")
    parser.add_argument("--delay", type=float, default=0.0, help="seconds of work per task")
    parser.add_argument("--hang-after", type=int, default=None)
    parser.add_argument("--token", default=os.environ.get("WFA_API_TOKEN"))
    args = parser.parse_args()

    done = 0
    say("started", workerId=args.worker_id)
    while True:
        status, answer = call(args.api, "/workers/poll", {
            "workerId": args.worker_id, "queues": [args.queue], "max": 1,
            "wait": "20s", "lease": f"{args.lease}s"}, args.token)
        if status != 200:
            say("poll-refused", status=status, answer=answer)
            time.sleep(1)
            continue
        for task in answer["tasks"]:
            say("took", taskId=task["taskId"], attempt=task["attempt"])
            if args.hang_after is not None and done >= args.hang_after:
                say("hung", taskId=task["taskId"])
                threading.Event().wait()
            stop = threading.Event()
            threading.Thread(target=heartbeat_while, daemon=True, args=(
                stop, args.api, task, args.worker_id, args.lease, args.token)).start()
            time.sleep(args.delay)
            output, failure = work(task)
            stop.set()
            if failure is None:
                status, _ = call(args.api, f"/tasks/{task['taskId']}/complete",
                                 {"workerId": args.worker_id, "output": output}, args.token)
                done += 1
                say("completed", taskId=task["taskId"], status=status)
            else:
                error, retryable = failure
                status, _ = call(args.api, f"/tasks/{task['taskId']}/fail", {
                    "workerId": args.worker_id, "error": error, "retryable": retryable},
                    args.token)
                say("failed", taskId=task["taskId"], status=status)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(0)
