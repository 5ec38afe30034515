/* The per-packet work of the forwarding path in C: a forwarded frame's RTP packets written,
 * protected (libsrtp, through pylibsrtp's own srtp_protect) and sent in one call from Python
 * (send.py, _RtpWriter._send_native), and a received packet unprotected (srtp_unprotect) and
 * parsed into aiortc's RtpPacket in one call (receive.py, enable_fast_receive). send.py and
 * receive.py do the same in Python where this module is not built; both make the same bytes
 * and packets (tests/media).
 *
 * Optional: setup.py builds it where a C compiler and Python's headers exist, and the
 * package works without it.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>

#ifndef SOL_UDP
#define SOL_UDP 17
#endif
#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif

/* libsrtp 2's srtp_protect(srtp_t ctx, void *rtp_hdr, int *len_ptr); send.py checks the
 * type cffi gives it before handing its address to set_protect(). */
typedef int (*protect_fn)(void *ctx, void *rtp, int *len);
static protect_fn srtp_protect_fn = NULL;
static protect_fn srtp_unprotect_fn = NULL; /* the same signature */

#define SLOT 1536     /* bytes per packet: the packet, then room for SRTP's trailer */
#define MAX_BATCH 32  /* packets per segmented send (as send.py's _MAX_SEGMENTS) */
#define MAX_HEADER 128

static unsigned char slots[MAX_BATCH][SLOT];
static int lengths[MAX_BATCH];

static PyObject *
set_protect(PyObject *module, PyObject *address)
{
    void *pointer = PyLong_AsVoidPtr(address);
    if (pointer == NULL && PyErr_Occurred())
        return NULL;
    srtp_protect_fn = (protect_fn)pointer;
    Py_RETURN_NONE;
}

static PyObject *
sockaddr(PyObject *module, PyObject *args)
{
    const char *host;
    int port;
    unsigned int scope = 0;
    if (!PyArg_ParseTuple(args, "si|I", &host, &port, &scope))
        return NULL;
    char plain[INET6_ADDRSTRLEN + 1];
    const char *percent = strchr(host, '%');
    if (percent != NULL) { /* fe80::1%eth0: the scope comes as a number */
        size_t n = (size_t)(percent - host);
        if (n >= sizeof(plain)) {
            PyErr_SetString(PyExc_ValueError, "address too long");
            return NULL;
        }
        memcpy(plain, host, n);
        plain[n] = 0;
        host = plain;
    }
    struct sockaddr_in v4;
    memset(&v4, 0, sizeof(v4));
    if (inet_pton(AF_INET, host, &v4.sin_addr) == 1) {
        v4.sin_family = AF_INET;
        v4.sin_port = htons((unsigned short)port);
        return PyBytes_FromStringAndSize((const char *)&v4, sizeof(v4));
    }
    struct sockaddr_in6 v6;
    memset(&v6, 0, sizeof(v6));
    if (inet_pton(AF_INET6, host, &v6.sin6_addr) == 1) {
        v6.sin6_family = AF_INET6;
        v6.sin6_port = htons((unsigned short)port);
        v6.sin6_scope_id = scope;
        return PyBytes_FromStringAndSize((const char *)&v6, sizeof(v6));
    }
    PyErr_Format(PyExc_ValueError, "not an IP address: %s", host);
    return NULL;
}

/* Sends slots[0..count) to addr; returns how many went (all of them, or those before the
 * one the socket refused), and sets *gso_errno when the kernel refused segmentation. */
static int
flush(int fd, const struct sockaddr *addr, socklen_t addr_length, int count, int gso,
      int *gso_errno, int *send_errno)
{
    int sent = 0;
    if (gso && count > 1 && !*gso_errno) {
        int size = lengths[0];
        int equal = lengths[count - 1] <= size;
        for (int i = 1; i < count - 1 && equal; i++)
            equal = lengths[i] == size;
        if (equal) {
            struct iovec iov[MAX_BATCH];
            for (int i = 0; i < count; i++) {
                iov[i].iov_base = slots[i];
                iov[i].iov_len = (size_t)lengths[i];
            }
            union {
                char buf[CMSG_SPACE(sizeof(uint16_t))];
                struct cmsghdr align;
            } control;
            memset(&control, 0, sizeof(control));
            struct msghdr message;
            memset(&message, 0, sizeof(message));
            message.msg_name = (void *)addr;
            message.msg_namelen = addr_length;
            message.msg_iov = iov;
            message.msg_iovlen = (size_t)count;
            message.msg_control = control.buf;
            message.msg_controllen = sizeof(control.buf);
            struct cmsghdr *header = CMSG_FIRSTHDR(&message);
            header->cmsg_level = SOL_UDP;
            header->cmsg_type = UDP_SEGMENT;
            header->cmsg_len = CMSG_LEN(sizeof(uint16_t));
            uint16_t segment = (uint16_t)size;
            memcpy(CMSG_DATA(header), &segment, sizeof(segment));
            if (sendmsg(fd, &message, 0) >= 0)
                return count;
            int error = errno;
            if (error == EINVAL || error == EIO || error == ENOPROTOOPT || error == EOPNOTSUPP) {
                *gso_errno = error; /* one by one below, and Python stops asking */
            } else {
                *send_errno = error;
                return 0;
            }
        }
    }
    for (; sent < count; sent++) {
        if (sendto(fd, slots[sent], (size_t)lengths[sent], 0, addr, addr_length) < 0) {
            *send_errno = errno;
            break;
        }
    }
    return sent;
}

static PyObject *s_ntp, *s_rtp, *s_octets, *s_packets, *s_tx_bytes, *s_tx_packets;

/* attribute += amount, on the instance's own dict where the attribute lives (aiortc's
 * counters: plain instance attributes), else through getattr/setattr */
static int
add_to(PyObject *object, PyObject *name, long long amount)
{
    PyObject *dict = PyObject_GenericGetDict(object, NULL);
    PyObject *value = NULL;
    if (dict == NULL)
        PyErr_Clear();
    else if ((value = PyDict_GetItemWithError(dict, name)) != NULL)
        Py_INCREF(value);
    else if (PyErr_Occurred()) {
        Py_DECREF(dict);
        return -1;
    }
    if (value == NULL) {
        Py_CLEAR(dict);
        if ((value = PyObject_GetAttr(object, name)) == NULL)
            return -1;
    }
    PyObject *delta = PyLong_FromLongLong(amount);
    PyObject *sum = delta == NULL ? NULL : PyNumber_Add(value, delta);
    Py_DECREF(value);
    Py_XDECREF(delta);
    int status = -1;
    if (sum != NULL)
        status = dict != NULL ? PyDict_SetItem(dict, name, sum) : PyObject_SetAttr(object, name, sum);
    Py_XDECREF(sum);
    Py_XDECREF(dict);
    return status;
}

static int
set_to(PyObject *object, PyObject *name, PyObject *value)
{
    if (value == NULL)
        return -1;
    int status = PyObject_SetAttr(object, name, value);
    Py_DECREF(value);
    return status;
}

#define VP8_PAYLOAD_MAX 1296 /* send.py's _VP8_PAYLOAD_MAX */

/* send(route, gso, history, history_size, sender, dtls, data, frame_timestamp, picture_id,
 *      level, sequence_number)
 *   route: (srtp context address, socket descriptor, packed sockaddr, room, RTP header
 *           template, abs-send-time offset or -1, level offset or -1, payload type,
 *           timestamp origin)
 *   data: a list of payloads (one packet each), or one frame: cut as aiortc's VP8
 *         packetiser cuts it, with the descriptors of ``picture_id``, if picture_id >= 0;
 *         else one packet (Opus)
 *   -> (next sequence number, leftovers, gso errno)
 * Writes, protects and sends the frame's packets as send.py's _RtpWriter._send does, keeps
 * each in ``history`` (send.py's _SentHistory tuples), and counts them on ``sender`` and
 * ``dtls`` as aiortc does. Leftovers: the protected packets the socket did not take (it
 * would block, or failed), in order, for the transport's sendto; None if it took them all. */
static PyObject *
send_frame(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 11) {
        PyErr_SetString(PyExc_TypeError, "send() takes 11 arguments");
        return NULL;
    }
    if (srtp_protect_fn == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "set_protect() was not called");
        return NULL;
    }
    PyObject *route = args[0];
    if (!PyTuple_Check(route) || PyTuple_GET_SIZE(route) != 9) {
        PyErr_SetString(PyExc_TypeError, "send(): route is a tuple of 9");
        return NULL;
    }
    void *ctx = PyLong_AsVoidPtr(PyTuple_GET_ITEM(route, 0));
    int fd = (int)PyLong_AsLong(PyTuple_GET_ITEM(route, 1));
    PyObject *addr_object = PyTuple_GET_ITEM(route, 2);
    long room = PyLong_AsLong(PyTuple_GET_ITEM(route, 3));
    PyObject *template_object = PyTuple_GET_ITEM(route, 4);
    long abs_offset = PyLong_AsLong(PyTuple_GET_ITEM(route, 5));
    long level_offset = PyLong_AsLong(PyTuple_GET_ITEM(route, 6));
    long payload_type = PyLong_AsLong(PyTuple_GET_ITEM(route, 7));
    unsigned long long timestamp_origin = PyLong_AsUnsignedLongLong(PyTuple_GET_ITEM(route, 8));
    int gso = PyObject_IsTrue(args[1]);
    PyObject *history = args[2];
    long history_size = PyLong_AsLong(args[3]);
    PyObject *sender = args[4];
    PyObject *dtls = args[5];
    PyObject *data_object = args[6];
    unsigned long long frame_timestamp = PyLong_AsUnsignedLongLong(args[7]);
    long picture_id = PyLong_AsLong(args[8]);
    PyObject *level_object = args[9];
    long sequence_number = PyLong_AsLong(args[10]);
    if (PyErr_Occurred())
        return NULL;
    if (!PyBytes_Check(addr_object) || !PyBytes_Check(template_object) || !PyDict_Check(history) ||
        history_size <= 0 || room > SLOT - 144) {
        PyErr_SetString(PyExc_TypeError, "send(): bad arguments");
        return NULL;
    }
    const struct sockaddr *addr = (const struct sockaddr *)PyBytes_AS_STRING(addr_object);
    socklen_t addr_length = (socklen_t)PyBytes_GET_SIZE(addr_object);

    /* What the frame's packets are: a list of payloads, or slices of one frame. */
    int is_list = PyList_Check(data_object);
    Py_ssize_t count;
    Py_buffer frame = {0};
    int have_frame = 0;
    if (is_list) {
        count = PyList_GET_SIZE(data_object);
    } else {
        if (PyObject_GetBuffer(data_object, &frame, PyBUF_SIMPLE) < 0)
            return NULL;
        have_frame = 1;
        count = picture_id >= 0 ? (frame.len + VP8_PAYLOAD_MAX - 1) / VP8_PAYLOAD_MAX : 1;
    }
    PyObject *first_prefix = NULL, *rest_prefix = NULL, *leftovers = NULL, *result = NULL;
    PyObject *timestamp_object = NULL, *abs_object = NULL;
    if (count == 0) { /* nothing to send (an empty VP8 frame or list) */
        result = Py_BuildValue("(lOi)", sequence_number, Py_None, 0);
        goto done;
    }

    /* The frame's header: the template with timestamp, abs-send-time and level. */
    unsigned char header[MAX_HEADER];
    Py_ssize_t header_length = PyBytes_GET_SIZE(template_object);
    if (header_length < 12 || header_length > MAX_HEADER - 16) {
        PyErr_SetString(PyExc_ValueError, "bad RTP header template");
        goto done;
    }
    memcpy(header, PyBytes_AS_STRING(template_object), (size_t)header_length);
    uint32_t timestamp = (uint32_t)((timestamp_origin + frame_timestamp) & 0xFFFFFFFFu);
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    /* clock.current_ntp_time(), as send.py computes it */
    double seconds = (double)now.tv_sec + (double)now.tv_nsec / 1e9;
    unsigned long long ntp = (unsigned long long)((seconds + 2208988800.0) * 4294967296.0);
    uint32_t abs_send_time = (uint32_t)((ntp >> 14) & 0x00FFFFFF);
    header[4] = (unsigned char)(timestamp >> 24);
    header[5] = (unsigned char)(timestamp >> 16);
    header[6] = (unsigned char)(timestamp >> 8);
    header[7] = (unsigned char)timestamp;
    if (abs_offset >= 0 && abs_offset + 3 <= header_length) {
        header[abs_offset] = (unsigned char)(abs_send_time >> 16);
        header[abs_offset + 1] = (unsigned char)(abs_send_time >> 8);
        header[abs_offset + 2] = (unsigned char)abs_send_time;
    }
    if (level_object != Py_None && level_offset >= 0 && level_offset < header_length) {
        long level = PyLong_AsLong(level_object);
        if (level == -1 && PyErr_Occurred())
            goto done;
        header[level_offset] = (unsigned char)(level & 0x7F);
    }
    timestamp_object = PyLong_FromUnsignedLong(timestamp);
    abs_object = PyLong_FromUnsignedLong(abs_send_time);
    if (timestamp_object == NULL || abs_object == NULL)
        goto done;
    unsigned char descriptors[2][4];
    Py_ssize_t prefix_length = 0;
    if (!is_list && picture_id >= 0) {
        /* aiortc's VP8 descriptors: X, I bits and a 15-bit picture id (send.py) */
        unsigned int picture = 0x8000u | (unsigned int)(picture_id & 0x7FFF);
        unsigned char first[4] = {0x90, 0x80, (unsigned char)(picture >> 8), (unsigned char)picture};
        unsigned char rest[4] = {0x80, 0x80, (unsigned char)(picture >> 8), (unsigned char)picture};
        memcpy(descriptors[0], first, 4);
        memcpy(descriptors[1], rest, 4);
        prefix_length = 4;
        first_prefix = PyBytes_FromStringAndSize((const char *)first, 4);
        rest_prefix = PyBytes_FromStringAndSize((const char *)rest, 4);
    } else {
        first_prefix = PyBytes_FromStringAndSize(NULL, 0);
        rest_prefix = first_prefix;
        Py_XINCREF(rest_prefix);
    }
    if (first_prefix == NULL || rest_prefix == NULL)
        goto done;

    /* As pylibsrtp's protect(): a packet too long fails the frame, here before any is sent. */
    for (Py_ssize_t i = 0; i < count; i++) {
        Py_ssize_t length;
        if (is_list) {
            length = PyObject_Length(PyList_GET_ITEM(data_object, i));
            if (length < 0)
                goto done;
        } else if (picture_id >= 0) {
            Py_ssize_t start = i * VP8_PAYLOAD_MAX;
            length = frame.len - start < VP8_PAYLOAD_MAX ? frame.len - start : VP8_PAYLOAD_MAX;
        } else {
            length = frame.len;
        }
        if (header_length + prefix_length + length > room) {
            PyErr_SetString(PyExc_ValueError, "RTP packet is too long");
            goto done;
        }
    }

    long long sent_bytes = 0, octets = 0;
    int gso_errno = 0, send_errno = 0;
    int blocked = 0;
    int batch = 0;
    for (Py_ssize_t i = 0; i < count; i++) {
        int marker = i == count - 1;
        Py_buffer chunk = {0};
        const unsigned char *payload;
        Py_ssize_t payload_length, start = 0;
        PyObject *kept; /* what the history keeps of the payload: data, start, stop */
        if (is_list) {
            kept = PyList_GET_ITEM(data_object, i);
            if (PyObject_GetBuffer(kept, &chunk, PyBUF_SIMPLE) < 0)
                goto done;
            payload = chunk.buf;
            payload_length = chunk.len;
        } else {
            kept = data_object;
            start = picture_id >= 0 ? i * VP8_PAYLOAD_MAX : 0;
            payload = (const unsigned char *)frame.buf + start;
            payload_length = frame.len - start;
            if (picture_id >= 0 && payload_length > VP8_PAYLOAD_MAX)
                payload_length = VP8_PAYLOAD_MAX;
        }
        unsigned char *packet = slots[batch];
        memcpy(packet, header, (size_t)header_length);
        packet[1] = (unsigned char)((marker << 7) | (payload_type & 0x7F));
        packet[2] = (unsigned char)(sequence_number >> 8);
        packet[3] = (unsigned char)sequence_number;
        Py_ssize_t length = header_length;
        if (prefix_length) {
            memcpy(packet + length, descriptors[i ? 1 : 0], (size_t)prefix_length);
            length += prefix_length;
        }
        memcpy(packet + length, payload, (size_t)payload_length);
        length += payload_length;
        if (is_list)
            PyBuffer_Release(&chunk);

        /* send.py's _SentHistory tuple: (seq, marker, ts, prefix, data, start, stop, abs,
         * level), made directly (Py_BuildValue parsed its format for every packet) */
        PyObject *entry = PyTuple_New(9);
        if (entry == NULL)
            goto done;
        PyObject *prefix = i ? rest_prefix : first_prefix;
        PyTuple_SET_ITEM(entry, 0, PyLong_FromLong(sequence_number));
        PyTuple_SET_ITEM(entry, 1, PyLong_FromLong(marker));
        PyTuple_SET_ITEM(entry, 2, Py_NewRef(timestamp_object));
        PyTuple_SET_ITEM(entry, 3, Py_NewRef(prefix));
        PyTuple_SET_ITEM(entry, 4, Py_NewRef(kept));
        PyTuple_SET_ITEM(entry, 5, PyLong_FromSsize_t(start));
        PyTuple_SET_ITEM(entry, 6, PyLong_FromSsize_t(start + payload_length));
        PyTuple_SET_ITEM(entry, 7, Py_NewRef(abs_object));
        PyTuple_SET_ITEM(entry, 8, Py_NewRef(level_object));
        if (PyTuple_GET_ITEM(entry, 0) == NULL || PyTuple_GET_ITEM(entry, 5) == NULL ||
            PyTuple_GET_ITEM(entry, 6) == NULL) {
            Py_DECREF(entry);
            goto done;
        }
        PyObject *key = PyLong_FromLong(sequence_number % history_size);
        if (key == NULL || PyDict_SetItem(history, key, entry) < 0) {
            Py_XDECREF(key);
            Py_DECREF(entry);
            goto done;
        }
        Py_DECREF(key);
        Py_DECREF(entry);

        int protected_length = (int)length;
        int status = srtp_protect_fn(ctx, packet, &protected_length);
        if (status) {
            PyErr_Format(PyExc_RuntimeError, "srtp_protect failed with status %d", status);
            goto done;
        }
        lengths[batch++] = protected_length;
        sent_bytes += protected_length;
        octets += length - header_length;
        sequence_number = (sequence_number + 1) & 0xFFFF;

        if (batch == MAX_BATCH || marker) {
            int went = 0;
            if (!blocked) {
                went = flush(fd, addr, addr_length, batch, gso, &gso_errno, &send_errno);
                if (went < batch)
                    blocked = 1;
            }
            for (int j = went; j < batch; j++) {
                if (leftovers == NULL && (leftovers = PyList_New(0)) == NULL)
                    goto done;
                PyObject *rest = PyBytes_FromStringAndSize((const char *)slots[j], lengths[j]);
                if (rest == NULL || PyList_Append(leftovers, rest) < 0) {
                    Py_XDECREF(rest);
                    goto done;
                }
                Py_DECREF(rest);
            }
            batch = 0;
        }
    }
    /* What aiortc's sender and DTLS transport count (sender reports, getStats). */
    if (add_to(dtls, s_tx_bytes, sent_bytes) < 0 || add_to(dtls, s_tx_packets, count) < 0 ||
        set_to(sender, s_ntp, PyLong_FromUnsignedLongLong(ntp)) < 0 ||
        PyObject_SetAttr(sender, s_rtp, timestamp_object) < 0 ||
        add_to(sender, s_octets, octets) < 0 || add_to(sender, s_packets, count) < 0)
        goto done;
    result = Py_BuildValue("(lOi)", sequence_number, leftovers != NULL ? leftovers : Py_None,
                           gso_errno);
    (void)send_errno; /* the transport's sendto of the leftovers reports the error */
done:
    if (have_frame)
        PyBuffer_Release(&frame);
    Py_XDECREF(first_prefix);
    Py_XDECREF(rest_prefix);
    Py_XDECREF(timestamp_object);
    Py_XDECREF(abs_object);
    Py_XDECREF(leftovers);
    return result;
}

static PyObject *
set_unprotect(PyObject *module, PyObject *address)
{
    void *pointer = PyLong_AsVoidPtr(address);
    if (pointer == NULL && PyErr_Occurred())
        return NULL;
    srtp_unprotect_fn = (protect_fn)pointer;
    Py_RETURN_NONE;
}

static PyObject *empty_tuple;
static PyObject *r_version, *r_marker, *r_payload_type, *r_sequence_number, *r_timestamp, *r_ssrc,
    *r_csrc, *r_extensions, *r_payload, *r_padding_size;
/* HeaderExtensions' fields, in the order receive.py's _parse_extensions matches them */
#define EXTENSIONS 7
static const char *extension_names[EXTENSIONS] = {
    "abs_send_time", "audio_level", "mid", "repaired_rtp_stream_id", "rtp_stream_id",
    "transmission_offset", "transport_sequence_number",
};
static PyObject *x_names[EXTENSIONS];
enum { X_ABS, X_LEVEL, X_MID, X_REPAIRED, X_RID, X_OFFSET, X_TSN };

static int
set_new(PyObject *object, PyObject *name, PyObject *value)
{
    if (value == NULL)
        return -1;
    int status = PyObject_SetAttr(object, name, value);
    Py_DECREF(value);
    return status;
}

static PyObject *
value_error(const char *message)
{
    PyErr_SetString(PyExc_ValueError, message);
    return NULL;
}

/* receive.py's rtp_parser: aiortc's RtpPacket.parse, ValueError for what it refuses (also for
 * a header extension of the wrong size, where aiortc raises struct.error). ``ids`` is the
 * extensions map's HeaderExtensions of identifiers, read at every packet (the transport may
 * reconfigure it). */
static PyObject *
parse_packet(const unsigned char *d, Py_ssize_t length, PyObject *ids, PyObject *packet_type,
             PyObject *extensions_type)
{
    if (length < 12)
        return value_error("RTP packet length is less than 12 bytes");
    unsigned int v_p_x_cc = d[0];
    if (v_p_x_cc >> 6 != 2)
        return value_error("RTP packet has invalid version");
    Py_ssize_t cc = v_p_x_cc & 0x0F;
    Py_ssize_t position = 12 + 4 * cc;
    if (length < position)
        return value_error("RTP packet has truncated CSRC");
    PyObject *values[EXTENSIONS] = {NULL};
    PyObject *packet = NULL, *extensions = NULL, *csrc = NULL, *result = NULL;
    csrc = PyList_New(cc);
    if (csrc == NULL)
        goto done;
    for (Py_ssize_t i = 0; i < cc; i++) {
        const unsigned char *p = d + 12 + 4 * i;
        PyObject *item = PyLong_FromUnsignedLong(((unsigned long)p[0] << 24) | ((unsigned long)p[1] << 16) |
                                                 ((unsigned long)p[2] << 8) | p[3]);
        if (item == NULL)
            goto done;
        PyList_SET_ITEM(csrc, i, item);
    }
    if (v_p_x_cc & 0x10) {
        if (length < position + 4) {
            value_error("RTP packet has truncated extension profile / length");
            goto done;
        }
        unsigned int profile = ((unsigned int)d[position] << 8) | d[position + 1];
        Py_ssize_t words = ((Py_ssize_t)d[position + 2] << 8) | d[position + 3];
        position += 4;
        Py_ssize_t end = position + 4 * words;
        if (length < end) {
            value_error("RTP packet has truncated extension value");
            goto done;
        }
        if (profile == 0xBEDE || profile == 0x1000) {
            int two_byte = profile == 0x1000;
            long id_of[EXTENSIONS];
            for (int k = 0; k < EXTENSIONS; k++) {
                PyObject *id = PyObject_GetAttr(ids, x_names[k]);
                if (id == NULL)
                    goto done;
                id_of[k] = id == Py_None ? -1 : PyLong_AsLong(id);
                Py_DECREF(id);
                if (id_of[k] == -1 && PyErr_Occurred())
                    goto done;
            }
            Py_ssize_t x = position;
            while (x < end) {
                unsigned int first = d[x];
                if (first == 0) { /* padding */
                    x += 1;
                    continue;
                }
                long x_id;
                Py_ssize_t x_length;
                if (two_byte) {
                    if (end < x + 2) {
                        value_error("RTP two-byte header extension is truncated");
                        goto done;
                    }
                    x_id = first;
                    x_length = d[x + 1];
                    x += 2;
                } else {
                    x_id = first >> 4;
                    x_length = (first & 0x0F) + 1;
                    x += 1;
                }
                Py_ssize_t stop = x + x_length;
                if (end < stop) {
                    value_error(two_byte ? "RTP two-byte header extension value is truncated"
                                         : "RTP one-byte header extension value is truncated");
                    goto done;
                }
                int k = 0;
                while (k < EXTENSIONS && id_of[k] != x_id)
                    k++;
                PyObject *value = NULL;
                const unsigned char *v = d + x;
                switch (k) {
                case X_ABS:
                    if (x_length != 3) {
                        value_error("abs-send-time is not 3 bytes");
                        goto done;
                    }
                    value = PyLong_FromUnsignedLong(((unsigned long)v[0] << 16) | ((unsigned long)v[1] << 8) | v[2]);
                    break;
                case X_LEVEL:
                    if (x_length != 1) {
                        value_error("audio level is not 1 byte");
                        goto done;
                    }
                    value = Py_BuildValue("(Oi)", (v[0] & 0x80) ? Py_True : Py_False, v[0] & 0x7F);
                    break;
                case X_MID:
                    value = PyUnicode_DecodeUTF8((const char *)v, x_length, NULL);
                    break;
                case X_REPAIRED:
                case X_RID:
                    value = PyUnicode_DecodeASCII((const char *)v, x_length, NULL);
                    break;
                case X_OFFSET: {
                    if (x_length != 3) {
                        value_error("transmission offset is not 3 bytes");
                        goto done;
                    }
                    long offset = ((long)v[0] << 16) | ((long)v[1] << 8) | v[2];
                    if (offset & 0x800000)
                        offset -= 0x1000000;
                    value = PyLong_FromLong(offset);
                    break;
                }
                case X_TSN:
                    if (x_length != 2) {
                        value_error("transport sequence number is not 2 bytes");
                        goto done;
                    }
                    value = PyLong_FromLong(((long)v[0] << 8) | v[1]);
                    break;
                default: /* not one aiortc reads */
                    x = stop;
                    continue;
                }
                if (value == NULL)
                    goto done;
                Py_XSETREF(values[k], value);
                x = stop;
            }
        }
        position = end;
    }
    Py_ssize_t padding = 0, payload_end = length;
    if (v_p_x_cc & 0x20) {
        padding = d[length - 1];
        if (!padding || padding > length - position) {
            value_error("RTP packet padding length is invalid");
            goto done;
        }
        payload_end = length - padding;
    }

    extensions = PyBaseObject_Type.tp_new((PyTypeObject *)extensions_type, empty_tuple, NULL);
    if (extensions == NULL)
        goto done;
    for (int k = 0; k < EXTENSIONS; k++)
        if (PyObject_SetAttr(extensions, x_names[k], values[k] != NULL ? values[k] : Py_None) < 0)
            goto done;
    packet = PyBaseObject_Type.tp_new((PyTypeObject *)packet_type, empty_tuple, NULL);
    if (packet == NULL)
        goto done;
    unsigned long timestamp = ((unsigned long)d[4] << 24) | ((unsigned long)d[5] << 16) |
                              ((unsigned long)d[6] << 8) | d[7];
    unsigned long ssrc = ((unsigned long)d[8] << 24) | ((unsigned long)d[9] << 16) |
                         ((unsigned long)d[10] << 8) | d[11];
    if (set_new(packet, r_version, PyLong_FromLong(2)) < 0 ||
        set_new(packet, r_marker, PyLong_FromLong(d[1] >> 7)) < 0 ||
        set_new(packet, r_payload_type, PyLong_FromLong(d[1] & 0x7F)) < 0 ||
        set_new(packet, r_sequence_number, PyLong_FromLong(((long)d[2] << 8) | d[3])) < 0 ||
        set_new(packet, r_timestamp, PyLong_FromUnsignedLong(timestamp)) < 0 ||
        set_new(packet, r_ssrc, PyLong_FromUnsignedLong(ssrc)) < 0 ||
        PyObject_SetAttr(packet, r_csrc, csrc) < 0 ||
        PyObject_SetAttr(packet, r_extensions, extensions) < 0 ||
        set_new(packet, r_payload,
                PyBytes_FromStringAndSize((const char *)d + position, payload_end - position)) < 0 ||
        set_new(packet, r_padding_size, PyLong_FromSsize_t(padding)) < 0)
        goto done;
    result = packet;
    packet = NULL;
done:
    for (int k = 0; k < EXTENSIONS; k++)
        Py_XDECREF(values[k]);
    Py_XDECREF(packet);
    Py_XDECREF(extensions);
    Py_XDECREF(csrc);
    return result;
}

/* parse(data, ids, RtpPacket, HeaderExtensions) -> RtpPacket */
static PyObject *
parse(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 4) {
        PyErr_SetString(PyExc_TypeError, "parse() takes 4 arguments");
        return NULL;
    }
    Py_buffer data;
    if (PyObject_GetBuffer(args[0], &data, PyBUF_SIMPLE) < 0)
        return NULL;
    PyObject *packet = parse_packet(data.buf, data.len, args[1], args[2], args[3]);
    PyBuffer_Release(&data);
    return packet;
}

static unsigned char clear[SLOT];

/* receive(context, data, ids, RtpPacket, HeaderExtensions) -> RtpPacket: srtp_unprotect of
 * ``data`` on the context, then parse(); ValueError if it does not authenticate (as
 * pylibsrtp's Error, which the receive path treats alike: the packet is dropped). */
static PyObject *
receive(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 5) {
        PyErr_SetString(PyExc_TypeError, "receive() takes 5 arguments");
        return NULL;
    }
    if (srtp_unprotect_fn == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "set_unprotect() was not called");
        return NULL;
    }
    void *ctx = PyLong_AsVoidPtr(args[0]);
    if (ctx == NULL && PyErr_Occurred())
        return NULL;
    Py_buffer data;
    if (PyObject_GetBuffer(args[1], &data, PyBUF_SIMPLE) < 0)
        return NULL;
    Py_ssize_t length = data.len;
    if (length > 1500) {
        PyBuffer_Release(&data);
        return value_error("packet is too long");
    }
    memcpy(clear, data.buf, (size_t)length);
    PyBuffer_Release(&data);
    int clear_length = (int)length;
    int status = srtp_unprotect_fn(ctx, clear, &clear_length);
    if (status) {
        PyErr_Format(PyExc_ValueError, "srtp_unprotect failed with status %d", status);
        return NULL;
    }
    return parse_packet(clear, clear_length, args[2], args[3], args[4]);
}

static PyMethodDef methods[] = {
    {"set_protect", set_protect, METH_O, "Use the srtp_protect at this address."},
    {"set_unprotect", set_unprotect, METH_O, "Use the srtp_unprotect at this address."},
    {"parse", (PyCFunction)(void (*)(void))parse, METH_FASTCALL, "Parse an RTP packet."},
    {"receive", (PyCFunction)(void (*)(void))receive, METH_FASTCALL, "Unprotect and parse."},
    {"sockaddr", sockaddr, METH_VARARGS, "sockaddr(host, port[, scope]): a packed sockaddr."},
    {"send", (PyCFunction)(void (*)(void))send_frame, METH_FASTCALL, "Send one frame's packets."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "media.aiortc_patch._fastpath", NULL, -1, methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC
PyInit__fastpath(void)
{
    if (!(s_ntp = PyUnicode_InternFromString("_RTCRtpSender__ntp_timestamp")) ||
        !(s_rtp = PyUnicode_InternFromString("_RTCRtpSender__rtp_timestamp")) ||
        !(s_octets = PyUnicode_InternFromString("_RTCRtpSender__octet_count")) ||
        !(s_packets = PyUnicode_InternFromString("_RTCRtpSender__packet_count")) ||
        !(s_tx_bytes = PyUnicode_InternFromString("_RTCDtlsTransport__tx_bytes")) ||
        !(s_tx_packets = PyUnicode_InternFromString("_RTCDtlsTransport__tx_packets")) ||
        !(r_version = PyUnicode_InternFromString("version")) ||
        !(r_marker = PyUnicode_InternFromString("marker")) ||
        !(r_payload_type = PyUnicode_InternFromString("payload_type")) ||
        !(r_sequence_number = PyUnicode_InternFromString("sequence_number")) ||
        !(r_timestamp = PyUnicode_InternFromString("timestamp")) ||
        !(r_ssrc = PyUnicode_InternFromString("ssrc")) ||
        !(r_csrc = PyUnicode_InternFromString("csrc")) ||
        !(r_extensions = PyUnicode_InternFromString("extensions")) ||
        !(r_payload = PyUnicode_InternFromString("payload")) ||
        !(r_padding_size = PyUnicode_InternFromString("padding_size")) ||
        !(empty_tuple = PyTuple_New(0)))
        return NULL;
    for (int k = 0; k < EXTENSIONS; k++)
        if (!(x_names[k] = PyUnicode_InternFromString(extension_names[k])))
            return NULL;
    return PyModule_Create(&module);
}
