/* The send path's per-packet loop in C: a forwarded frame's RTP packets written, protected
 * (libsrtp, through pylibsrtp's own srtp_protect) and sent (sendmsg with UDP_SEGMENT, or
 * sendto) in one call from Python. media/aiortc_patch/send.py (_RtpWriter._send) does the
 * same in Python where this module is not built; both make the same bytes (tests/media).
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

/* send(ctx, fd, addr, gso, room, template, abs_offset, level_offset, timestamp,
 *      abs_send_time, level, payload_type, sequence_number, chunks, descriptors, history,
 *      history_size)
 *   -> (next sequence number, protected bytes, payload octets, leftovers, gso errno)
 * as send.py's _RtpWriter._send documents; leftovers: the protected packets the socket did
 * not take (it would block, or failed), in order, for the transport's sendto. */
static PyObject *
send_frame(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 17) {
        PyErr_SetString(PyExc_TypeError, "send() takes 17 arguments");
        return NULL;
    }
    if (srtp_protect_fn == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "set_protect() was not called");
        return NULL;
    }
    void *ctx = PyLong_AsVoidPtr(args[0]);
    int fd = (int)PyLong_AsLong(args[1]);
    PyObject *addr_object = args[2];
    int gso = PyObject_IsTrue(args[3]);
    long room = PyLong_AsLong(args[4]);
    PyObject *template_object = args[5];
    long abs_offset = PyLong_AsLong(args[6]);
    long level_offset = PyLong_AsLong(args[7]);
    PyObject *timestamp_object = args[8];
    unsigned long timestamp = PyLong_AsUnsignedLong(timestamp_object);
    PyObject *abs_object = args[9];
    unsigned long abs_send_time = PyLong_AsUnsignedLong(abs_object);
    PyObject *level_object = args[10];
    long payload_type = PyLong_AsLong(args[11]);
    long sequence_number = PyLong_AsLong(args[12]);
    PyObject *chunks = args[13];
    PyObject *descriptors = args[14];
    PyObject *history = args[15];
    long history_size = PyLong_AsLong(args[16]);
    if (PyErr_Occurred())
        return NULL;
    if (!PyBytes_Check(addr_object) || !PyBytes_Check(template_object) ||
        !PyDict_Check(history) || history_size <= 0 ||
        !(descriptors == Py_None || (PyTuple_Check(descriptors) && PyTuple_GET_SIZE(descriptors) == 2))) {
        PyErr_SetString(PyExc_TypeError, "send(): bad argument types");
        return NULL;
    }
    const struct sockaddr *addr = (const struct sockaddr *)PyBytes_AS_STRING(addr_object);
    socklen_t addr_length = (socklen_t)PyBytes_GET_SIZE(addr_object);

    /* The frame's header: the template with timestamp, abs-send-time and level. */
    unsigned char header[MAX_HEADER];
    Py_ssize_t header_length = PyBytes_GET_SIZE(template_object);
    if (header_length < 12 || header_length > MAX_HEADER - 16) {
        PyErr_SetString(PyExc_ValueError, "bad RTP header template");
        return NULL;
    }
    memcpy(header, PyBytes_AS_STRING(template_object), (size_t)header_length);
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
            return NULL;
        header[level_offset] = (unsigned char)(level & 0x7F);
    }

    PyObject *sequence = PySequence_Fast(chunks, "chunks must be a sequence");
    if (sequence == NULL)
        return NULL;
    Py_ssize_t count = PySequence_Fast_GET_SIZE(sequence);
    PyObject **items = PySequence_Fast_ITEMS(sequence);
    PyObject *empty = NULL, *leftovers = NULL, *result = NULL;
    Py_buffer first_prefix = {0}, rest_prefix = {0};
    int have_prefixes = 0;
    if (count == 0) {
        PyErr_SetString(PyExc_ValueError, "a frame has at least one payload");
        goto done;
    }
    if (descriptors != Py_None) {
        if (PyObject_GetBuffer(PyTuple_GET_ITEM(descriptors, 0), &first_prefix, PyBUF_SIMPLE) < 0)
            goto done;
        if (PyObject_GetBuffer(PyTuple_GET_ITEM(descriptors, 1), &rest_prefix, PyBUF_SIMPLE) < 0) {
            PyBuffer_Release(&first_prefix);
            goto done;
        }
        have_prefixes = 1;
        if (first_prefix.len > 16 || rest_prefix.len > 16) {
            PyErr_SetString(PyExc_ValueError, "VP8 descriptor too long");
            goto done;
        }
    } else {
        empty = PyBytes_FromStringAndSize(NULL, 0);
        if (empty == NULL)
            goto done;
    }
    /* As pylibsrtp's protect(): a packet too long fails the frame, here before any is sent. */
    for (Py_ssize_t i = 0; i < count; i++) {
        Py_ssize_t length = PyObject_Length(items[i]);
        if (length < 0)
            goto done;
        Py_ssize_t prefix = have_prefixes ? (i ? rest_prefix.len : first_prefix.len) : 0;
        if (header_length + prefix + length > room || room > SLOT - 144) {
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
        PyObject *chunk = items[i];
        Py_buffer data;
        if (PyObject_GetBuffer(chunk, &data, PyBUF_SIMPLE) < 0)
            goto done;
        unsigned char *packet = slots[batch];
        memcpy(packet, header, (size_t)header_length);
        packet[1] = (unsigned char)((marker << 7) | (payload_type & 0x7F));
        packet[2] = (unsigned char)(sequence_number >> 8);
        packet[3] = (unsigned char)sequence_number;
        Py_ssize_t length = header_length;
        PyObject *prefix_object = empty;
        if (have_prefixes) {
            Py_buffer *prefix = i ? &rest_prefix : &first_prefix;
            memcpy(packet + length, prefix->buf, (size_t)prefix->len);
            length += prefix->len;
            prefix_object = PyTuple_GET_ITEM(descriptors, i ? 1 : 0);
        }
        memcpy(packet + length, data.buf, (size_t)data.len);
        length += data.len;
        PyBuffer_Release(&data);

        PyObject *entry = Py_BuildValue("(liOOOOO)", sequence_number, marker, timestamp_object,
                                        prefix_object, chunk, abs_object,
                                        level_object == Py_None ? Py_None : level_object);
        if (entry == NULL)
            goto done;
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
    result = Py_BuildValue("(lLLOi)", sequence_number, sent_bytes, octets,
                           leftovers != NULL ? leftovers : Py_None, gso_errno);
    (void)send_errno; /* the transport's sendto of the leftovers reports the error */
done:
    if (have_prefixes) {
        PyBuffer_Release(&first_prefix);
        PyBuffer_Release(&rest_prefix);
    }
    Py_XDECREF(empty);
    Py_XDECREF(leftovers);
    Py_DECREF(sequence);
    return result;
}

static PyMethodDef methods[] = {
    {"set_protect", set_protect, METH_O, "Use the srtp_protect at this address."},
    {"sockaddr", sockaddr, METH_VARARGS, "sockaddr(host, port[, scope]): a packed sockaddr."},
    {"send", (PyCFunction)(void (*)(void))send_frame, METH_FASTCALL, "Send one frame's packets."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "media.aiortc_patch._fastsend", NULL, -1, methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC
PyInit__fastsend(void)
{
    return PyModule_Create(&module);
}
