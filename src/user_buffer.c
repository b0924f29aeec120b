/*
 * Copies between kernel memory and raw user-mode buffers under structured exception handling.
 *
 * A Filter Manager message callback gets unlocked user pointers: another thread of the client
 * can unmap them at any moment, so they may only be touched inside __try/__except (WINDOWS.md).
 * Rust has no SEH, hence this file. Built by cl.exe (WDK lane) or by clang with -fms-extensions
 * (Linux lane).
 *
 * The copy is a call to memcpy, not a loop, so that both compilers cover it: clang's __try scope
 * covers the calls made inside it (a fault in memcpy unwinds to the call's return address, which
 * lies in the scope) but not plain loads and stores, even with -fasync-exceptions; a byte loop
 * once ended up outside the scope in the built image. tests/image reads the scope tables of the
 * built image and fails if any call or any access through a pointer lies outside them.
 *
 * No headers: the kernel routines used are declared here; the Rust side imports them from
 * ntoskrnl.exe.
 */

typedef unsigned long long SIZE_T;
typedef long NTSTATUS;

void __stdcall ProbeForRead(const volatile void *Address, SIZE_T Length, unsigned long Alignment);
void __stdcall ProbeForWrite(volatile void *Address, SIZE_T Length, unsigned long Alignment);
void *__cdecl memcpy(void *destination, const void *source, SIZE_T count);
unsigned long _exception_code(void);

/* EXCEPTION_EXECUTE_HANDLER: run the __except block for any exception raised inside. */
#define HANDLE_EVERYTHING 1

/* Copies length bytes from user memory; returns STATUS_SUCCESS or the exception code. */
NTSTATUS pushlock_copy_from_user(unsigned char *destination, const volatile unsigned char *user_source, SIZE_T length)
{
    __try {
        ProbeForRead(user_source, length, 1);
        memcpy(destination, (const void *)user_source, length);
    } __except (HANDLE_EVERYTHING) {
        return (NTSTATUS)_exception_code();
    }
    return 0;
}

/* Copies length bytes to user memory; returns STATUS_SUCCESS or the exception code. */
NTSTATUS pushlock_copy_to_user(volatile unsigned char *user_destination, const unsigned char *source, SIZE_T length)
{
    __try {
        ProbeForWrite(user_destination, length, 1);
        memcpy((void *)user_destination, source, length);
    } __except (HANDLE_EVERYTHING) {
        return (NTSTATUS)_exception_code();
    }
    return 0;
}
