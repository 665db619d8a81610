"""The console's imports: upload a CSV file, see how its columns map, run it in the background
with a progress bar (the page refreshes itself while it runs; no script needed), download the rejects."""

from __future__ import annotations

from collections.abc import Iterator

import anyio.to_thread
from sqlalchemy import Engine
from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from ...domain import DomainError
from ...services.console import imports as service
from ...services.console import lists as console_lists
from ...services.shared.errors import NotFound
from .common import guarded, page, refused, text
from .session import Session

CHANNELS = (("email", "Email marketing"), ("sms", "SMS marketing"), ("sms_transactional", "SMS transactional"))


def _chunks(upload: UploadFile) -> Iterator[bytes]:
    while chunk := upload.file.read(1 << 20):
        yield chunk


def routes(engine: Engine) -> list[BaseRoute]:
    async def overview(request: Request, s: Session, form: FormData | None, error: str | None = None) -> Response:
        found = await anyio.to_thread.run_sync(service.recent, s.user.account_id)
        return page(request, s, "imports.html", {"imports": found, "nav": "imports", "error": error},
                    400 if error else 200)  # fmt: skip

    async def upload(request: Request, s: Session, form: FormData | None) -> Response:
        file = form.get("file") if form is not None else None
        if not isinstance(file, UploadFile) or not file.filename:
            return await overview(request, s, form, "Choose a CSV file to upload.")
        try:
            staged = await anyio.to_thread.run_sync(service.stage, s.user, file.filename, _chunks(file))
        except DomainError as e:
            return await overview(request, s, form, f"{e.message[:1].upper()}{e.message[1:]}.")
        return RedirectResponse(f"/console/imports/{staged.id}", status_code=303)

    async def detail(request: Request, s: Session, form: FormData | None, error: str | None = None) -> Response:
        try:
            st = await anyio.to_thread.run_sync(service.status, s.user.account_id, request.path_params["id"])
        except DomainError:
            return refused(request, s, 404, "No such import", "This account has no import with this id.")
        lists = await anyio.to_thread.run_sync(console_lists.overview, engine, s.user.account_id)
        return page(request, s, "import.html", {"i": st, "lists": lists, "channels": CHANNELS, "nav": "imports",
                                                "error": error}, 400 if error else 200)  # fmt: skip

    async def run(request: Request, s: Session, form: FormData | None) -> Response:
        import_id = request.path_params["id"]
        subscribe = [str(v) for v in (form.getlist("subscribe") if form is not None else [])]
        try:
            await anyio.to_thread.run_sync(lambda: service.start(engine, s.user, import_id, subscribe,
                                                                 text(form, "list") or None))  # fmt: skip
        except NotFound as e:
            return await detail(request, s, form, f"List: {e.message}.")
        except DomainError as e:
            if e.field == "import" and "no such" in e.message:
                return refused(request, s, 404, "No such import", "This account has no import with this id.")
            return await detail(request, s, form, f"{e.message[:1].upper()}{e.message[1:]}.")
        return RedirectResponse(f"/console/imports/{import_id}", status_code=303)

    async def rejects(request: Request, s: Session, form: FormData | None) -> Response:
        try:
            path = service.rejects_path(s.user.account_id, request.path_params["id"])
        except DomainError:
            path = None
        if path is None:
            return refused(request, s, 404, "No rejected rows", "This import rejected no rows.")
        return FileResponse(path, media_type="text/csv", filename=f"rejects-{request.path_params['id']}.csv")

    return [
        Route("/console/imports", guarded(engine, overview)),
        Route("/console/imports/upload", guarded(engine, upload, write=True, max_body=service.MAX_UPLOAD + 65536,
                                                 max_files=1), methods=["POST"]),  # fmt: skip
        Route("/console/imports/{id}", guarded(engine, detail)),
        Route("/console/imports/{id}/run", guarded(engine, run, write=True), methods=["POST"]),
        Route("/console/imports/{id}/rejects.csv", guarded(engine, rejects)),
    ]
