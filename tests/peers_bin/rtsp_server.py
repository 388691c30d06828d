"""A real RTSP server for the tests: Debian's GStreamer RTSP server.

Runs under the system /usr/bin/python3 (where `gi` imports), started by the
test suite as a subprocess.  Usage:
    rtsp_server.py PORT PATH none|basic|digest [USER PASSWORD] [--address=ADDRESS]
Prints "READY" once it listens (on ADDRESS: 127.0.0.1 unless given, e.g. ::1);
serves a test pattern as MJPEG over RTP.
"""

from __future__ import annotations

import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtsp", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtsp, GstRtspServer  # noqa: E402


def main() -> None:
    options = [arg for arg in sys.argv[1:] if arg.startswith("--address=")]
    argv = [arg for arg in sys.argv if arg not in options]
    address = options[-1].split("=", 1)[1] if options else "127.0.0.1"
    port, path, auth_kind = argv[1], argv[2], argv[3]
    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address(address)
    server.set_service(port)
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch("( videotestsrc is-live=true ! video/x-raw,format=I420,width=160,height=120,framerate=5/1"
                       " ! jpegenc ! rtpjpegpay name=pay0 pt=26 )")
    factory.set_shared(True)
    if auth_kind != "none":
        user, password = argv[4], argv[5]
        auth = GstRtspServer.RTSPAuth()
        token = GstRtspServer.RTSPToken()
        token.set_string(GstRtspServer.RTSP_TOKEN_MEDIA_FACTORY_ROLE, "user")
        if auth_kind == "basic":
            auth.set_supported_methods(GstRtsp.RTSPAuthMethod.BASIC)
            auth.add_basic(GstRtspServer.RTSPAuth.make_basic(user, password), token)
        else:
            auth.set_supported_methods(GstRtsp.RTSPAuthMethod.DIGEST)
            auth.add_digest(user, password, token)
        server.set_auth(auth)
        factory.add_role_from_structure(Gst.Structure.new_from_string(
            "user, media.factory.access=(boolean)true, media.factory.construct=(boolean)true"))
    server.get_mount_points().add_factory(path, factory)
    if server.attach(None) == 0:
        print("FAILED to listen", flush=True)
        sys.exit(1)
    print("READY", flush=True)
    GLib.MainLoop().run()


if __name__ == "__main__":
    main()
