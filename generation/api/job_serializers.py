"""Serializers of jobs, gate decisions, outputs, entitlements and gate policies: validate and shape only."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from generation.actions import DEFAULT_FORMATS, OUTPUT_FORMATS
from generation.models import (
    Entitlement,
    GateDecision,
    GatePolicy,
    IndemnificationTier,
    Job,
    JobOutput,
    JobUse,
    TrainingChangePolicy,
)
from licensing.terms import territories_of


class JobCreateSerializer(serializers.Serializer[Any]):
    """A job request. Send an `Idempotency-Key` header: the same key and body return the same job."""

    description = serializers.CharField(max_length=4000, help_text="The scene, in words (hit points may be "
                                        "written in it, e.g. 'reveal at 0:42').")
    model = serializers.CharField(max_length=160, help_text="name@version (or name: its latest version).")
    territory = serializers.CharField(max_length=8, help_text="ISO 3166-1 alpha-2 code where the output is used.")
    use = serializers.ChoiceField(choices=JobUse.choices)
    style_tags = serializers.ListField(child=serializers.CharField(max_length=200), required=False, default=list,
                                       max_length=20)
    params = serializers.DictField(required=False, default=dict, help_text="Plan parameters: duration, tempo, key, "
                                   "mode, meter, intensity, instruments, hit_points, mood.")
    formats = serializers.ListField(child=serializers.ChoiceField(choices=list(OUTPUT_FORMATS)), required=False,
                                    default=lambda: list(DEFAULT_FORMATS))
    seed = serializers.IntegerField(required=False, allow_null=True, default=None, min_value=0, max_value=2**31)
    training_mining = serializers.DictField(
        child=serializers.CharField(), required=False, default=dict,
        help_text="What others may do with the output, stated in its Content Credentials: data_mining, "
                  "ai_inference, ai_generative_training, ai_training -> allowed | notAllowed "
                  "(default: all notAllowed).")
    organization = serializers.SlugField(required=False, allow_blank=True, default="",
                                         help_text="Only when you are a client of several organizations.")


class GateDecisionSerializer(serializers.ModelSerializer[GateDecision]):
    """A recorded gate decision."""

    model = serializers.CharField(source="model.slug")

    class Meta:
        model = GateDecision
        fields = ["id", "stage", "allowed", "reasons", "policy_version", "policy", "model", "manifest_root",
                  "ledger_size", "facts", "elapsed_ms", "decided_at", "ledger_index"]


class JobOutputSerializer(serializers.ModelSerializer[JobOutput]):
    """A sealed output and where to download it."""

    url = serializers.SerializerMethodField()
    manifest_id = serializers.SerializerMethodField(help_text="The C2PA manifest signed into the file (audio only).")

    class Meta:
        model = JobOutput
        fields = ["kind", "media_type", "sha256", "size", "created_at", "ledger_index", "manifest_id", "url"]

    def get_manifest_id(self, output: JobOutput) -> str | None:
        credential = getattr(output, "credential", None)  # reverse one-to-one: absent for MIDI and MusicXML
        return credential.manifest_id if credential is not None else None

    def get_url(self, output: JobOutput) -> str:
        request = self.context.get("request")
        path = f"/api/v1/jobs/{output.job_id}/outputs/{output.kind}/"
        return request.build_absolute_uri(path) if request is not None else path


class JobSerializer(serializers.ModelSerializer[Job]):
    """A job: request, state with its explanation, progress and step timings, decisions and sealed outputs."""

    model = serializers.CharField(source="model.slug")
    organization = serializers.SlugField(source="organization.slug")
    decisions = GateDecisionSerializer(many=True, read_only=True)
    outputs = serializers.SerializerMethodField()

    class Meta:
        model = Job
        fields = ["id", "organization", "idempotency_key", "state", "outcome_code", "outcome_message",
                  "outcome_details", "progress", "steps", "description", "params", "model", "style_tags",
                  "territory", "use", "formats", "seed", "training_mining", "indemnified", "plan", "decisions",
                  "outputs", "created_at", "updated_at", "finished_at"]

    def get_outputs(self, job: Job) -> list[dict[str, Any]]:
        if job.state != "completed":  # unsealed audio is never offered
            return []
        return JobOutputSerializer(job.outputs.all(), many=True, context=self.context).data  # type: ignore[return-value]


class EntitlementSerializer(serializers.ModelSerializer[Entitlement]):
    """A client contract's terms."""

    organization = serializers.SlugField(source="organization.slug")
    territories = serializers.SerializerMethodField()

    class Meta:
        model = Entitlement
        fields = ["id", "organization", "reference", "territories", "commercial_use", "indemnification_tier",
                  "monthly_quota", "model_slugs", "valid_from", "valid_until", "created_at", "ledger_index"]

    def get_territories(self, ent: Entitlement) -> list[str]:
        return territories_of(ent.territories)


class EntitlementCreateSerializer(serializers.Serializer[Any]):
    """New contract terms for a client organization (supersede the previous ones from valid_from)."""

    organization = serializers.SlugField()
    reference = serializers.CharField(max_length=200)
    territories = serializers.ListField(child=serializers.CharField(max_length=8), min_length=1)
    commercial_use = serializers.BooleanField()
    indemnification_tier = serializers.ChoiceField(choices=IndemnificationTier.choices)
    monthly_quota = serializers.IntegerField(required=False, allow_null=True, default=None, min_value=0)
    model_slugs = serializers.ListField(child=serializers.CharField(max_length=160), required=False, default=list)
    valid_from = serializers.DateTimeField(required=False, allow_null=True, default=None)
    valid_until = serializers.DateTimeField(required=False, allow_null=True, default=None)


class GatePolicySerializer(serializers.ModelSerializer[GatePolicy]):
    """A gate policy version."""

    class Meta:
        model = GatePolicy
        fields = ["version", "training_changes", "grace_days", "memorization_threshold", "name_fuzzy_threshold",
                  "note", "created_at", "ledger_index"]


class GatePolicyCreateSerializer(serializers.Serializer[Any]):
    """A new gate policy version."""

    training_changes = serializers.ChoiceField(choices=TrainingChangePolicy.choices)
    grace_days = serializers.IntegerField(min_value=0, default=0)
    memorization_threshold = serializers.IntegerField(min_value=1, default=8)
    name_fuzzy_threshold = serializers.FloatField(min_value=50, max_value=100, default=88.0)
    note = serializers.CharField(max_length=1000, required=False, allow_blank=True, default="")
