"""Serializers for the ledger API (RFC 9162 field names)."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from rest_framework import serializers

from licensing.canonical import parse
from licensing.models import Checkpoint, LedgerEntry


class Base64Field(serializers.Field):
    """Bytes as standard base64."""

    def to_representation(self, value: Any) -> str:
        return base64.b64encode(bytes(value)).decode("ascii")

    def to_internal_value(self, data: Any) -> bytes:
        try:
            return base64.b64decode(str(data), validate=True)
        except (binascii.Error, ValueError):
            raise serializers.ValidationError("Not valid base64.") from None


class CheckpointSerializer(serializers.ModelSerializer):
    """A signed tree head; `note` is the C2SP signed note, verifiable offline."""

    root_hash = Base64Field()

    class Meta:
        model = Checkpoint
        fields = ["tree_size", "root_hash", "origin", "key_name", "note", "created_at"]


class LedgerEntrySerializer(serializers.ModelSerializer):
    """An entry: its canonical payload (base64, the exact hashed bytes) and that payload decoded."""

    payload = Base64Field()
    leaf_hash = Base64Field()
    data = serializers.SerializerMethodField()

    class Meta:
        model = LedgerEntry
        fields = ["leaf_index", "entry_type", "created_at", "actor_name", "actor_organization_id", "request_id",
                  "subject_type", "subject_id", "leaf_hash", "payload", "data"]

    def get_data(self, obj: LedgerEntry) -> Any:
        """The payload as JSON (for reading; verifiers hash `payload`)."""
        return parse(bytes(obj.payload))


class InclusionQuerySerializer(serializers.Serializer):
    """Either leaf_index or leaf_hash, against tree_size (default: the latest size)."""

    leaf_index = serializers.IntegerField(min_value=0, required=False)
    leaf_hash = Base64Field(required=False)
    tree_size = serializers.IntegerField(min_value=1, required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if ("leaf_index" in attrs) == ("leaf_hash" in attrs):
            raise serializers.ValidationError("Give exactly one of leaf_index or leaf_hash.")
        return attrs


class InclusionProofSerializer(serializers.Serializer):
    """RFC 9162 inclusion proof (plus the leaf hash and root it proves against)."""

    leaf_index = serializers.IntegerField()
    tree_size = serializers.IntegerField()
    leaf_hash = serializers.CharField()
    root_hash = serializers.CharField()
    inclusion_path = serializers.ListField(child=serializers.CharField())


class ConsistencyQuerySerializer(serializers.Serializer):
    """Two tree sizes, first <= second (second defaults to the latest size)."""

    first = serializers.IntegerField(min_value=0)
    second = serializers.IntegerField(min_value=0, required=False)


class ConsistencyProofSerializer(serializers.Serializer):
    """RFC 9162 consistency proof with both roots."""

    first = serializers.IntegerField()
    second = serializers.IntegerField()
    first_root_hash = serializers.CharField()
    second_root_hash = serializers.CharField()
    consistency_path = serializers.ListField(child=serializers.CharField())


class EntryRangeQuerySerializer(serializers.Serializer):
    """A half-open range of leaf indices, at most 1,000 entries."""

    start = serializers.IntegerField(min_value=0)
    end = serializers.IntegerField(min_value=1)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if not attrs["start"] < attrs["end"] <= attrs["start"] + 1000:
            raise serializers.ValidationError("Need start < end <= start + 1000.")
        return attrs
