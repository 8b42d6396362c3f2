"""A minimal client of the Kubernetes Container Runtime Interface (CRI v1, the runtime.v1 services
of k8s.io/cri-api's api.proto), as kubelet speaks it to containerd: protobuf messages encoded and
decoded here from a table of the fields this project uses, sent over gRPC generic calls (Debian's
python3-grpcio; no protoc, no generated code). Fields not in the table are skipped on decoding,
as protobuf readers do, so a newer runtime's answers still read."""
import grpc

# The messages, field by field: name -> (number, type[, "repeated"]). A type is a scalar
# ("string", "bool", "enum", "int64", "int32", "uint32"), "map" (map<string, string>, which is
# on the wire a repeated message of key = 1, value = 2), or the name of another message here.
MESSAGES = {
    "VersionRequest": {"version": (1, "string")},
    "VersionResponse": {"version": (1, "string"), "runtime_name": (2, "string"),
                        "runtime_version": (3, "string"), "runtime_api_version": (4, "string")},
    "PodSandboxMetadata": {"name": (1, "string"), "uid": (2, "string"),
                           "namespace": (3, "string"), "attempt": (4, "uint32")},
    "NamespaceOption": {"network": (1, "enum"), "pid": (2, "enum"), "ipc": (3, "enum")},
    "LinuxSandboxSecurityContext": {"namespace_options": (1, "NamespaceOption"),
                                    "privileged": (6, "bool")},
    "LinuxPodSandboxConfig": {"cgroup_parent": (1, "string"),
                              "security_context": (2, "LinuxSandboxSecurityContext")},
    "PodSandboxConfig": {"metadata": (1, "PodSandboxMetadata"), "hostname": (2, "string"),
                         "log_directory": (3, "string"), "labels": (6, "map"),
                         "annotations": (7, "map"), "linux": (8, "LinuxPodSandboxConfig")},
    "RunPodSandboxRequest": {"config": (1, "PodSandboxConfig"), "runtime_handler": (2, "string")},
    "RunPodSandboxResponse": {"pod_sandbox_id": (1, "string")},
    "StopPodSandboxRequest": {"pod_sandbox_id": (1, "string")},
    "StopPodSandboxResponse": {},
    "RemovePodSandboxRequest": {"pod_sandbox_id": (1, "string")},
    "RemovePodSandboxResponse": {},
    "PodSandboxFilter": {"id": (1, "string"), "label_selector": (3, "map")},
    "ListPodSandboxRequest": {"filter": (1, "PodSandboxFilter")},
    "PodSandbox": {"id": (1, "string"), "metadata": (2, "PodSandboxMetadata"), "state": (3, "enum"),
                   "labels": (5, "map"), "annotations": (6, "map"),
                   "runtime_handler": (7, "string")},
    "ListPodSandboxResponse": {"items": (1, "PodSandbox", "repeated")},
    "ContainerMetadata": {"name": (1, "string"), "attempt": (2, "uint32")},
    "ImageSpec": {"image": (1, "string")},
    "KeyValue": {"key": (1, "string"), "value": (2, "string")},
    "Mount": {"container_path": (1, "string"), "host_path": (2, "string"),
              "readonly": (3, "bool")},
    "Capability": {"add_capabilities": (1, "string", "repeated"),
                   "drop_capabilities": (2, "string", "repeated")},
    "LinuxContainerSecurityContext": {"capabilities": (1, "Capability"), "privileged": (2, "bool"),
                                      "namespace_options": (3, "NamespaceOption")},
    "LinuxContainerConfig": {"security_context": (2, "LinuxContainerSecurityContext")},
    "ContainerConfig": {"metadata": (1, "ContainerMetadata"), "image": (2, "ImageSpec"),
                        "command": (3, "string", "repeated"), "args": (4, "string", "repeated"),
                        "working_dir": (5, "string"), "envs": (6, "KeyValue", "repeated"),
                        "mounts": (7, "Mount", "repeated"), "labels": (9, "map"),
                        "annotations": (10, "map"), "log_path": (11, "string"),
                        "linux": (15, "LinuxContainerConfig")},
    "CreateContainerRequest": {"pod_sandbox_id": (1, "string"), "config": (2, "ContainerConfig"),
                               "sandbox_config": (3, "PodSandboxConfig")},
    "CreateContainerResponse": {"container_id": (1, "string")},
    "StartContainerRequest": {"container_id": (1, "string")},
    "StartContainerResponse": {},
    "ContainerStatusRequest": {"container_id": (1, "string"), "verbose": (2, "bool")},
    "ContainerStatus": {"id": (1, "string"), "metadata": (2, "ContainerMetadata"),
                        "state": (3, "enum"), "created_at": (4, "int64"),
                        "started_at": (5, "int64"), "finished_at": (6, "int64"),
                        "exit_code": (7, "int32"), "image": (8, "ImageSpec"),
                        "reason": (10, "string"), "message": (11, "string"),
                        "annotations": (13, "map"), "mounts": (14, "Mount", "repeated"),
                        "log_path": (15, "string")},
    "ContainerStatusResponse": {"status": (1, "ContainerStatus"), "info": (2, "map")},
    "ImageStatusRequest": {"image": (1, "ImageSpec"), "verbose": (2, "bool")},
    "Image": {"id": (1, "string"), "repo_tags": (2, "string", "repeated")},
    "ImageStatusResponse": {"image": (1, "Image")},
}

# The calls: method -> (service, request message, response message).
METHODS = {
    "Version": ("RuntimeService", "VersionRequest", "VersionResponse"),
    "RunPodSandbox": ("RuntimeService", "RunPodSandboxRequest", "RunPodSandboxResponse"),
    "StopPodSandbox": ("RuntimeService", "StopPodSandboxRequest", "StopPodSandboxResponse"),
    "RemovePodSandbox": ("RuntimeService", "RemovePodSandboxRequest", "RemovePodSandboxResponse"),
    "ListPodSandbox": ("RuntimeService", "ListPodSandboxRequest", "ListPodSandboxResponse"),
    "CreateContainer": ("RuntimeService", "CreateContainerRequest", "CreateContainerResponse"),
    "StartContainer": ("RuntimeService", "StartContainerRequest", "StartContainerResponse"),
    "ContainerStatus": ("RuntimeService", "ContainerStatusRequest", "ContainerStatusResponse"),
    "ImageStatus": ("ImageService", "ImageStatusRequest", "ImageStatusResponse"),
}

# NamespaceMode, ContainerState, PodSandboxState
POD, CONTAINER, NODE = 0, 1, 2
CONTAINER_CREATED, CONTAINER_RUNNING, CONTAINER_EXITED, CONTAINER_UNKNOWN = 0, 1, 2, 3
SANDBOX_READY, SANDBOX_NOTREADY = 0, 1

VARINT, LEN = 0, 2  # the two wire types written here
SCALARS = ("string", "bool", "enum", "int64", "int32", "uint32")


# ---------------------------------------------------------------- encoding
def _varint(n):
    n &= (1 << 64) - 1  # negative numbers as 64-bit two's complement, as protobuf writes int32/64
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _key(num, wire):
    return _varint(num << 3 | wire)


def _scalar(num, typ, v):
    if typ == "string":
        b = v.encode()
        return _key(num, LEN) + _varint(len(b)) + b
    return _key(num, VARINT) + _varint(int(v))


def _submessage(num, b):
    return _key(num, LEN) + _varint(len(b)) + b


def encode(name, value):
    """VALUE (a dict of field names) as message NAME. Unknown field names are a mistake of the
    caller, reported; proto3 defaults (empty, 0, false) are left out as protobuf does."""
    fields = MESSAGES[name]
    out = bytearray()
    for field, v in value.items():
        if field not in fields:
            raise KeyError(f"{name} has no field {field!r} in cri.MESSAGES")
        num, typ, *rep = fields[field]
        if typ == "map":
            for k, mv in v.items():
                out += _submessage(num, _scalar(1, "string", k) + _scalar(2, "string", mv))
            continue
        for item in (v if rep else [v]):
            if typ in SCALARS:
                if item or rep:
                    out += _scalar(num, typ, item)
            else:
                out += _submessage(num, encode(typ, item))
    return bytes(out)


# ---------------------------------------------------------------- decoding
def _read_varint(b, i):
    n = shift = 0
    while True:
        if i >= len(b):
            raise ValueError("truncated varint")
        c = b[i]
        i += 1
        n |= (c & 0x7F) << shift
        shift += 7
        if not c & 0x80:
            return n, i


def _fields(b):
    """(number, wire type, value) of each field of B: an int for varints, bytes otherwise."""
    i = 0
    while i < len(b):
        key, i = _read_varint(b, i)
        num, wire = key >> 3, key & 7
        if wire == VARINT:
            v, i = _read_varint(b, i)
        elif wire == LEN:
            n, i = _read_varint(b, i)
            v, i = b[i:i + n], i + n
        elif wire in (1, 5):  # fixed64, fixed32: no field here has them; skipped
            n = 8 if wire == 1 else 4
            v, i = b[i:i + n], i + n
        else:
            raise ValueError(f"wire type {wire} of field {num}")
        yield num, wire, v


def _default(typ, rep):
    if rep:
        return []
    return {"string": "", "bool": False, "map": {}}.get(typ, 0 if typ in SCALARS else None)


def decode(name, b):
    """Message NAME from bytes B, as a dict with every field of the table (defaults included)."""
    fields = MESSAGES[name]
    by_num = {f[0]: (field, f[1], len(f) > 2) for field, f in fields.items()}
    out = {field: _default(f[1], len(f) > 2) for field, f in fields.items()}
    for num, wire, v in _fields(b):
        if num not in by_num:
            continue
        field, typ, rep = by_num[num]
        if typ == "map":
            kv = {n: x for n, _, x in _fields(v)}
            out[field][kv.get(1, b"").decode()] = kv.get(2, b"").decode()
            continue
        if typ == "string":
            item = v.decode()
        elif typ == "bool":
            item = bool(v)
        elif typ in ("int64", "int32"):
            item = v - (1 << 64) if v >= 1 << 63 else v
        elif typ in SCALARS:
            item = v
        else:
            item = decode(typ, v)
        if rep:
            out[field].append(item)
        else:
            out[field] = item
    return out


# ---------------------------------------------------------------- the client
class Client:
    """CRI v1 over the unix socket PATH; each call takes the request as a dict and returns the
    response as one, or raises grpc.RpcError (its details() is the runtime's message)."""

    def __init__(self, path, timeout=60):
        self.channel = grpc.insecure_channel(f"unix://{path}")
        self.timeout = timeout

    def call(self, method, request=None, timeout=None):
        service, req, resp = METHODS[method]
        stub = self.channel.unary_unary(f"/runtime.v1.{service}/{method}",
                                        request_serializer=lambda m: m,
                                        response_deserializer=lambda m: m)
        raw = stub(encode(req, request or {}), timeout=timeout or self.timeout)
        return decode(resp, raw)

    def __getattr__(self, method):
        if method not in METHODS:
            raise AttributeError(method)
        return lambda request=None, timeout=None: self.call(method, request, timeout)

    def close(self):
        self.channel.close()
