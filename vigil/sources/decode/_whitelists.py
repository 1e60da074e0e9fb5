"""FFmpeg's whitelists, set on every input vigil opens, so that a name can never make FFmpeg read
something else than a video: the tty and bin demuxers render any text or bytes (/etc/passwd) as
a picture, image2 expands globs and sequences, concat, hls and lavfi open more inputs, and
protocols such as concat:, subfile: or data: turn a "path" into others."""

__all__ = ["FILE_FORMATS", "FILE_PROTOCOLS", "RTSP_PROTOCOLS"]

# A file is one of these containers (FFmpeg's demuxer names), read through the file protocol only.
FILE_FORMATS = "mov,mp4,matroska,webm,avi,mpegts,mpeg,mpegvideo,m4v,h264,hevc,av1,obu,ivf,mjpeg,flv,asf,mxf,yuv4mpegpipe,gif"
FILE_PROTOCOLS = "file"
# What the RTSP demuxer may open beneath an rtsp:// or rtsps:// URL: never a file.
RTSP_PROTOCOLS = "tcp,udp,rtp,srtp,tls,rtsp,rtsps"
