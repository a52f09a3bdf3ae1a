"""The real server, called over gRPC on 127.0.0.1 as Crossplane calls it."""

from __future__ import annotations

import grpc
import pytest
from crossplane.function.proto.v1 import run_function_pb2 as fnv1
from crossplane.function.proto.v1beta1 import run_function_pb2 as fnv1beta1
from crossplane.function.proto.v1beta1 import run_function_pb2_grpc as grpcv1beta1
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from tests.support.responses import desired, fatal_messages, status
from tools import xrender

EXAMPLES = xrender.examples()


@pytest.mark.parametrize("ex", EXAMPLES, ids=lambda e: e.name)
def test_every_example_renders_over_grpc_without_fatal(grpc_call, ex):
    asked = []
    rsp = xrender.render(lambda req: asked.append(req) or grpc_call(req), ex)
    assert not fatal_messages(rsp)
    assert rsp.meta.tag == asked[-1].meta.tag
    # Asked again (an unchanged claim's next poll): the kept answer, byte for byte.
    again = grpc_call(asked[-1])
    assert again.SerializeToString(deterministic=True) == rsp.SerializeToString(deterministic=True)


def test_object_storage_example_over_grpc(grpc_call):
    (ex,) = [e for e in EXAMPLES if e.path.name == "xr.yaml" and "objectstorageinstance/" in e.name]
    rsp = xrender.render(grpc_call, ex)
    assert "bucket" in desired(rsp)
    assert status(rsp)["bucketName"].startswith("klutch-my-s3-instance-")


def test_unknown_kind_is_fatal_and_named(grpc_call):
    xr = {"apiVersion": "anynines.com/v1", "kind": "XRedisInstance", "metadata": {"name": "r"}}
    rsp = grpc_call(xrender.build_request(xr, {}))
    (msg,) = fatal_messages(rsp)
    assert "anynines.com/v1/XRedisInstance" in msg
    assert "XObjectStorageInstance" in msg


def test_empty_request_is_answered_not_crashed(grpc_call):
    rsp = grpc_call(fnv1.RunFunctionRequest())
    assert fatal_messages(rsp)


def test_v1beta1_protocol_is_served(grpc_address):
    # Older Crossplane releases speak v1beta1; the SDK serves it beside v1.
    (ex,) = [e for e in EXAMPLES if e.path.name == "xr.yaml" and "objectstorageinstance/" in e.name]
    req_v1 = xrender.build_request(ex.xr, xrender.function_input(ex.composition))
    req = fnv1beta1.RunFunctionRequest()
    req.ParseFromString(req_v1.SerializeToString())
    with grpc.insecure_channel(grpc_address) as channel:
        rsp = grpcv1beta1.FunctionRunnerServiceStub(channel).RunFunction(req, timeout=10)
    assert "bucket" in rsp.desired.resources


def test_a_request_that_does_not_parse_is_refused_naming_the_message(grpc_address):
    # RunFunction (v1) takes bytes (function/server.py): the parse is the function's own.
    with grpc.insecure_channel(grpc_address) as channel:
        call = channel.unary_unary("/apiextensions.fn.proto.v1.FunctionRunnerService/RunFunction")
        with pytest.raises(grpc.RpcError) as err:
            call(b"\xff\xff\xff", timeout=10)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "cannot parse RunFunctionRequest" in err.value.details()


def test_reflection_lists_both_protocols(grpc_address):
    with grpc.insecure_channel(grpc_address) as channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        (rsp,) = stub.ServerReflectionInfo(
            iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=10
        )
    names = {s.name for s in rsp.list_services_response.service}
    assert {
        "apiextensions.fn.proto.v1.FunctionRunnerService",
        "apiextensions.fn.proto.v1beta1.FunctionRunnerService",
    } <= names
