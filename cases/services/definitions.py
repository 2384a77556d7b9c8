"""Deploying a service: a directory of files becomes a new, checked ServiceVersion.

A service directory holds:

- `service.yaml`: code, agency, name, description, life events, SLA targets, queues, cost
  (see `cases.definition`);
- one `*.bpmn`: the process (Camunda Modeler style, see `cases.engine.bpmn`);
- any `*.dmn`: the decision models its business rule tasks call, by decision id or name;
- `form.json`: the application form, a draft 2020-12 JSON Schema with display hints;
- optionally `forms/<key>.json`: forms of user tasks (their `formKey`).

Everything is checked before anything is stored: every problem of every file is reported
at once, each naming its file and, for BPMN and DMN, the element id and line. The DMN files
become versions of decision models of the agency (`<service>-<file>`) in the decisions app,
so that its simulation covers them; a file unchanged since the last deploy is not uploaded
again.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from cases import compiled as compiled_cache
from cases import forms
from cases.connectors import CONNECTORS
from cases.definition import ServiceMetadata, parse_metadata
from cases.engine.bpmn import BpmnProblems, ParsedProcess, read_process
from cases.errors import ServiceDefinitionInvalid
from cases.models import Service, ServiceVersion
from core import audit
from decisions import dmn
from decisions import services as decision_services
from decisions.errors import DecisionModelInvalid, DecisionModelTooLarge
from decisions.models import DecisionModel, DecisionModelVersion
from identity import policy
from identity.models import Agency, User

MAX_FILES = 50
MAX_FILE_BYTES = 2 * 1024 * 1024
SCHEDULE_TOLERANCE = timedelta(minutes=1)
Files = Mapping[str, str | bytes]


def read_directory(directory: Path) -> dict[str, str | bytes]:
    """The files of a service directory that a deploy reads."""
    files: dict[str, str | bytes] = {}
    for path in sorted(directory.iterdir()):
        if path.is_file() and path.suffix in {".yaml", ".yml", ".bpmn", ".dmn", ".json"}:
            files[path.name] = path.read_bytes()
    forms_dir = directory / "forms"
    if forms_dir.is_dir():
        for path in sorted(forms_dir.glob("*.json")):
            files[f"forms/{path.name}"] = path.read_bytes()
    return files


def _text(name: str, content: str | bytes, errors: dict[str, list[str]]) -> str | None:
    if isinstance(content, bytes):
        if len(content) > MAX_FILE_BYTES:
            errors.setdefault(name, []).append(f"larger than {MAX_FILE_BYTES // 2**20} MB")
            return None
        try:
            return content.decode("utf-8")
        except UnicodeDecodeError as exc:
            errors.setdefault(name, []).append(f"not UTF-8 text (byte {exc.start})")
            return None
    if len(content) > MAX_FILE_BYTES:
        errors.setdefault(name, []).append(f"larger than {MAX_FILE_BYTES // 2**20} MB")
        return None
    return content


def _json(name: str, text: str, errors: dict[str, list[str]]) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        errors.setdefault(name, []).append(
            f"not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
        )
        return None


class _Checked:
    """Everything a deploy stores, once every file has been checked."""

    metadata: ServiceMetadata
    bpmn_name: str
    bpmn_xml: str
    process: ParsedProcess
    form: dict[str, Any]
    task_forms: dict[str, dict[str, Any]]
    dmn_files: dict[str, tuple[str, dmn.DmnModel]]  # name -> (xml, loaded)
    decision_refs: dict[str, tuple[str, str]]  # ref -> (dmn file, decision name)


def _check(files: Files) -> _Checked:
    errors: dict[str, list[str]] = {}
    if len(files) > MAX_FILES:
        raise ServiceDefinitionInvalid(errors={"(files)": [f"more than {MAX_FILES} files"]})
    texts = {name: _text(name, content, errors) for name, content in files.items()}
    checked = _Checked()

    # service.yaml
    yaml_name = next((n for n in ("service.yaml", "service.yml") if n in texts), None)
    metadata: ServiceMetadata | None = None
    if yaml_name is None:
        errors.setdefault("service.yaml", []).append("missing")
    elif texts[yaml_name] is not None:
        try:
            raw = yaml.safe_load(texts[yaml_name] or "")
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" (line {mark.line + 1})" if mark is not None else ""
            errors.setdefault(yaml_name, []).append(f"not valid YAML{where}")
            raw = None
        else:
            metadata, problems = parse_metadata(raw)
            if problems:
                errors.setdefault(yaml_name, []).extend(problems)

    # DMN files
    dmn_files: dict[str, tuple[str, dmn.DmnModel]] = {}
    for name, text in texts.items():
        if not name.endswith(".dmn") or text is None:
            continue
        try:
            dmn_files[name] = (text, decision_services.dmn_load(dmn_xml=text, source=name))
        except (DecisionModelInvalid, DecisionModelTooLarge) as exc:
            errors.setdefault(name, []).append(exc.detail)

    # the process
    bpmn_names = [n for n in texts if n.endswith(".bpmn")]
    process: ParsedProcess | None = None
    if len(bpmn_names) != 1:
        errors.setdefault("process.bpmn", []).append(
            f"a service has exactly one .bpmn file; found {len(bpmn_names)}"
        )
    elif texts[bpmn_names[0]] is not None:
        checked.bpmn_name, checked.bpmn_xml = bpmn_names[0], str(texts[bpmn_names[0]])
        try:
            process = read_process(
                checked.bpmn_xml, connectors=set(CONNECTORS), filename=checked.bpmn_name
            )
        except BpmnProblems as exc:
            errors.setdefault(checked.bpmn_name, []).extend(exc.problems)

    # forms
    form: Any = None
    if "form.json" not in texts:
        errors.setdefault("form.json", []).append("missing")
    elif texts["form.json"] is not None:
        form = _json("form.json", str(texts["form.json"]), errors)
        if form is not None:
            errors.setdefault("form.json", []).extend(forms.schema_problems(form))
    task_forms: dict[str, dict[str, Any]] = {}
    for name, text in texts.items():
        if name.startswith("forms/") and name.endswith(".json") and text is not None:
            schema = _json(name, text, errors)
            problems = forms.schema_problems(schema) if schema is not None else []
            errors.setdefault(name, []).extend(problems)
            if schema is not None and not problems:
                task_forms[name.removeprefix("forms/").removesuffix(".json")] = schema

    # cross-references: decisions, queues, task forms
    refs: dict[str, tuple[str, str]] = {}
    if process is not None:
        name = checked.bpmn_name
        dmn_failed = any(n.endswith(".dmn") for n in errors)
        for call in process.model.decisions.values():
            found = _find_decision(call.decision_ref, dmn_files)
            if found is None and dmn_failed:
                continue  # the DMN file's own error says it all
            if found is None:
                available = sorted(d for _, m in dmn_files.values() for d in m.decision_names())
                errors.setdefault(name, []).append(
                    f"element '{call.element_id}': decision {call.decision_ref!r} is in no DMN "
                    f"file of the service (decisions: {', '.join(available) or 'none'})"
                )
            else:
                refs[call.decision_ref] = found
        queues = metadata.queues if metadata else {}
        for human in process.model.human_tasks.values():
            if not human.queue:
                errors.setdefault(name, []).append(
                    f"element '{human.element_id}': the user task names no queue "
                    '(zeebe:assignmentDefinition candidateGroups="...")'
                )
            elif metadata is not None and human.queue not in queues:
                errors.setdefault(name, []).append(
                    f"element '{human.element_id}': queue {human.queue!r} is not declared "
                    "under queues in service.yaml"
                )
            if human.form_key and human.form_key not in task_forms:
                errors.setdefault(name, []).append(
                    f"element '{human.element_id}': form {human.form_key!r} has no "
                    f"forms/{human.form_key}.json"
                )
    errors = {k: v for k, v in errors.items() if v}
    if errors:
        count = sum(len(v) for v in errors.values())
        raise ServiceDefinitionInvalid(
            f"The service definition has {count} problem(s); nothing was deployed.",
            errors=errors,
        )
    assert metadata is not None and process is not None
    checked.metadata, checked.process = metadata, process
    checked.form, checked.task_forms = form, task_forms
    checked.dmn_files, checked.decision_refs = dmn_files, refs
    return checked


def _find_decision(
    ref: str, dmn_files: dict[str, tuple[str, dmn.DmnModel]]
) -> tuple[str, str] | None:
    for name, (_, loaded) in sorted(dmn_files.items()):
        if ref in loaded.decision_names():
            return name, ref
        try:
            return name, loaded.element(ref).name
        except dmn.DmnEvaluationError:
            continue
    return None


def _digest(files: Files) -> str:
    digest = hashlib.sha256()
    for name in sorted(files):
        content = files[name]
        digest.update(name.encode() + b"\0")
        digest.update(content if isinstance(content, bytes) else content.encode("utf-8"))
        digest.update(b"\0")
    return digest.hexdigest()


def _model_key(service_code: str, file_name: str) -> str:
    stem = Path(file_name).stem.lower().replace("_", "-")
    return f"{service_code}-{stem}"[:80]


def _decision_model_version(
    *, system: User, agency: Agency, key: str, name: str, xml: str, activates_at: datetime
) -> DecisionModelVersion:
    """The model version to use for this DMN file: the latest if unchanged, else a new one."""
    model = DecisionModel.objects.filter(agency=agency, key=key).first()
    if model is None:
        model = decision_services.decision_model_create(
            actor=system, agency=agency, key=key, name=name[:200]
        )
    digest = hashlib.sha256(xml.encode("utf-8")).hexdigest()
    latest = model.versions.order_by("-version").first()
    if latest is not None and latest.sha256 == digest and latest.activates_at is not None:
        return latest
    version = latest if latest is not None and latest.sha256 == digest else None
    if version is None:
        version = decision_services.decision_model_version_upload(
            actor=system, model=model, dmn_xml=xml, notes=f"deployed with service {name}"
        )
    return decision_services.decision_model_version_schedule(
        actor=system, version=version, activates_at=activates_at
    )


def service_deploy(
    *,
    actor: User,
    files: Files | None = None,
    directory: Path | None = None,
    agency: Agency | None = None,
    activate_at: datetime | None = None,
) -> ServiceVersion:
    """Check a service definition and store it as the service's next version.

    `activate_at` (default now) is when new cases start on it; running cases stay on the
    version they started on. Raises ServiceDefinitionInvalid (nothing stored) on any problem.
    """
    if (files is None) == (directory is None):
        raise ValueError("give either files or directory")
    if directory is not None:
        files = read_directory(directory)
    assert files is not None
    checked = _check(files)
    meta = checked.metadata
    if agency is None:
        agency = Agency.objects.filter(code=meta.agency).first()
        if agency is None:
            raise ServiceDefinitionInvalid(
                errors={"service.yaml": [f"agency: there is no agency {meta.agency!r}"]}
            )
    elif agency.code != meta.agency:
        raise ServiceDefinitionInvalid(
            errors={"service.yaml": [f"agency: {meta.agency!r} but deploying to {agency.code!r}"]}
        )
    policy.authorize(actor, "service.deploy", agency)
    now = timezone.now()
    moment = activate_at or now
    if moment < now - SCHEDULE_TOLERANCE:
        raise ServiceDefinitionInvalid(errors={"activate_at": ["must not be in the past"]})
    moment = max(moment, now)
    existing = Service.objects.filter(code=meta.code).first()
    if existing is not None and existing.agency_id != agency.pk:
        raise ServiceDefinitionInvalid(
            errors={"service.yaml": [f"code: {meta.code!r} belongs to another agency"]}
        )
    from identity.services import system_actor

    system = system_actor()  # uploads the DMN for the deployer authorised above
    with transaction.atomic():
        service, _ = Service.objects.update_or_create(
            code=meta.code,
            defaults={
                "agency": agency,
                "name": meta.name,
                "description": meta.description,
                "life_events": meta.life_events,
            },
        )
        Service.objects.select_for_update().filter(pk=service.pk).first()
        last = service.versions.aggregate(last=Max("version"))["last"] or 0
        decisions: dict[str, dict[str, Any]] = {}
        for file_name, (xml, loaded) in sorted(checked.dmn_files.items()):
            model_version = _decision_model_version(
                system=system,
                agency=agency,
                key=_model_key(meta.code, file_name),
                name=f"{meta.name}: {Path(file_name).stem}",
                xml=xml,
                activates_at=moment,
            )
            for ref, (ref_file, decision) in checked.decision_refs.items():
                if ref_file == file_name:
                    decisions[ref] = {
                        "model_id": model_version.model_id,
                        "model": model_version.model.key,
                        "decision": decision,
                        "version_id": model_version.pk,
                        "inputs": loaded.input_names(),
                    }
        version = ServiceVersion.objects.create(
            service=service,
            version=last + 1,
            process_id=checked.process.model.process_id,
            bpmn_xml=checked.bpmn_xml,
            form_schema=checked.form,
            task_forms=checked.task_forms,
            metadata=meta.as_json(),
            decisions=decisions,
            sha256=_digest(files),
            activates_at=moment,
            deployed_by=actor,
            deployed_at=now,
        )
        audit.record(
            actor=actor,
            action="service.deploy",
            target=version,
            agency=agency.code,
            data={
                "service": service.code,
                "version": version.version,
                "activates_at": moment,
                "sha256": version.sha256,
                "decision_models": sorted({d["model"] for d in decisions.values()}),
            },
        )
    compiled_cache.compiled(version)  # parse once now, not on the first case
    return version


def service_deploy_if_changed(*, actor: User, directory: Path) -> tuple[ServiceVersion, bool]:
    """Deploy the service directory unless its latest version holds exactly these files.

    Returns the version new cases use from it and whether it was deployed now. Safe to run
    at every start (`make demo`): an unchanged directory deploys nothing.
    """
    files = read_directory(directory)
    digest = _digest(files)
    raw = yaml.safe_load(files.get("service.yaml", b"") or b"")
    code = raw.get("code") if isinstance(raw, dict) else None
    if isinstance(code, str):
        latest = (
            ServiceVersion.objects.filter(service__code=code)
            .select_related("service")
            .order_by("-version")
            .first()
        )
        if latest is not None and latest.sha256 == digest:
            return latest, False
    return service_deploy(actor=actor, files=files), True
